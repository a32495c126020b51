package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"mailgate/certs"
	"mailgate/internal/mgtest"
	"mailgate/internal/testenv"
)

// daemon is a peer program (redis-server, haproxy, slapd) that a test
// runs in the foreground on loopback and kills when it ends.
type daemon struct {
	t    *testing.T
	name string
	args []string
	cmd  *exec.Cmd
	log  *os.File
}

// startDaemon runs prog, skipping the test when it is not installed,
// and waits until addr accepts connections.
func startDaemon(t *testing.T, addr, prog string, args ...string) *daemon {
	t.Helper()
	path := testenv.Tool(t, prog) // skipped on a laptop without it, fails in CI
	d := &daemon{t: t, name: path, args: args}
	t.Cleanup(func() {
		d.kill()
		if t.Failed() {
			b, _ := os.ReadFile(d.log.Name())
			t.Logf("%s output:\n%s", prog, b)
		}
	})
	d.start(addr)
	return d
}

func (d *daemon) start(addr string) {
	d.t.Helper()
	var err error
	if d.log == nil {
		d.log, err = os.CreateTemp(d.t.TempDir(), filepath.Base(d.name)+"-*.log")
		if err != nil {
			d.t.Fatal(err)
		}
	}
	d.cmd = exec.Command(d.name, d.args...)
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := d.cmd.Start(); err != nil {
		d.t.Fatalf("start %s: %v", d.name, err)
	}
	waitPort(d.t, addr)
}

// kill stops the daemon with SIGKILL and waits for it.
func (d *daemon) kill() {
	if d.cmd != nil && d.cmd.Process != nil && d.cmd.ProcessState == nil {
		d.cmd.Process.Kill()
		d.cmd.Wait()
	}
}

// waitPort waits until addr accepts a TCP connection.
func waitPort(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(mgtest.Timeout)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("nothing listens on %s", addr)
}

// startRedis runs redis-server on a free loopback port, without
// persistence.
func startRedis(t *testing.T) (*daemon, string) {
	addr := mgtest.FreeAddr(t)
	host, port, _ := net.SplitHostPort(addr)
	d := startDaemon(t, addr, "redis-server", "--bind", host, "--port", port, "--save", "",
		"--appendonly", "no", "--dir", t.TempDir())
	return d, addr
}

// startHAProxy runs haproxy in TCP mode with one frontend per entry of
// backends (frontend name -> server lines such as "127.0.0.1:2525
// send-proxy"), balancing round robin; it returns each frontend's
// address.
func startHAProxy(t *testing.T, backends map[string][]string) map[string]string {
	t.Helper()
	front := map[string]string{}
	var b strings.Builder
	b.WriteString("global\n  maxconn 200\ndefaults\n  mode tcp\n  timeout connect 10s\n  timeout client 60s\n  timeout server 60s\n")
	var last string
	for name, servers := range backends {
		front[name] = mgtest.FreeAddr(t)
		last = front[name]
		fmt.Fprintf(&b, "frontend f_%s\n  bind %s\n  default_backend b_%s\nbackend b_%s\n  balance roundrobin\n", name, front[name], name, name)
		for i, s := range servers {
			fmt.Fprintf(&b, "  server n%d %s\n", i, s)
		}
	}
	cfg := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(cfg, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	startDaemon(t, last, "haproxy", "-db", "-f", cfg)
	for _, a := range front {
		waitPort(t, a)
	}
	return front
}

// proxiedKeys are the listener keys that make a listener take PROXY
// headers from HAProxy on 127.0.0.1.
const proxiedKeys = "proxy_protocol: true\n    trusted_proxies: [127.0.0.1/32]"

// ldapSuffix is the tree of the test directory.
const ldapSuffix = "dc=example,dc=com"

// startSlapd loads ldif (with {PASSWORD:x} replaced by x's hash) into a
// fresh database with slapadd and serves it with slapd on a free
// loopback port; it returns the daemon and its ldap:// URL.
func startSlapd(t *testing.T, ldif string) (*daemon, string) {
	d, url, _, _ := runSlapd(t, ldif, false)
	return d, url
}

// startSlapdTLS is startSlapd with a self-signed certificate (for
// 127.0.0.1) on its ldap:// URL (StartTLS) and on an ldaps:// one.
func startSlapdTLS(t *testing.T, ldif string) (ldapURL, ldapsURL, caFile string) {
	_, ldapURL, ldapsURL, caFile = runSlapd(t, ldif, true)
	return ldapURL, ldapsURL, caFile
}

func runSlapd(t *testing.T, ldif string, withTLS bool) (d *daemon, ldapURL, ldapsURL, caFile string) {
	t.Helper()
	testenv.Tool(t, "slapd")
	dir := t.TempDir()
	db := filepath.Join(dir, "db")
	if err := os.Mkdir(db, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/misc.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile %s/slapd.pid
database mdb
maxsize 10485760
suffix "%s"
rootdn "cn=admin,%s"
rootpw admin-secret
directory %s
access to attrs=userPassword by anonymous auth by * none
access to * by * read
`, dir, ldapSuffix, ldapSuffix, db)
	if withTLS {
		if _, _, err := certs.SelfSigned(dir, "localhost"); err != nil {
			t.Fatal(err)
		}
		caFile = filepath.Join(dir, "selfsigned.crt")
		conf = fmt.Sprintf("TLSCertificateFile %s\nTLSCertificateKeyFile %s\n", caFile, filepath.Join(dir, "selfsigned.key")) + conf
	}
	confPath := filepath.Join(dir, "slapd.conf")
	ldifPath := filepath.Join(dir, "data.ldif")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ldifPath, []byte(hashLDIFPasswords(t, ldif)), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(testenv.Tool(t, "slapadd"), "-f", confPath, "-l", ldifPath).CombinedOutput(); err != nil {
		t.Fatalf("slapadd: %v\n%s", err, out)
	}
	addr := mgtest.FreeAddr(t)
	ldapURL = "ldap://" + addr
	urls := ldapURL + "/"
	if withTLS {
		ldapsURL = "ldaps://" + mgtest.FreeAddr(t)
		urls += " " + ldapsURL + "/"
	}
	return startDaemon(t, addr, "slapd", "-f", confPath, "-h", urls, "-d", "0"), ldapURL, ldapsURL, caFile
}

// hashLDIFPasswords replaces each {PASSWORD:x} with slappasswd's hash of x.
func hashLDIFPasswords(t *testing.T, ldif string) string {
	t.Helper()
	for {
		i := strings.Index(ldif, "{PASSWORD:")
		if i < 0 {
			return ldif
		}
		j := strings.IndexByte(ldif[i:], '}') + i
		out, err := exec.Command(testenv.Tool(t, "slappasswd"), "-s", ldif[i+len("{PASSWORD:"):j]).Output()
		if err != nil {
			t.Fatalf("slappasswd: %v", err)
		}
		ldif = ldif[:i] + strings.TrimSpace(string(out)) + ldif[j+1:]
	}
}
