package interop

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mailgate/internal/mgtest"
	"mailgate/internal/testenv"
)

// postfixInstance is a private Postfix: its own config, queue and
// mailboxes under a temp dir, listening on one loopback port, started
// with `postfix -c DIR start`.
type postfixInstance struct {
	Dir    string
	Addr   string // its SMTP listener, 127.0.0.1:port
	Domain string // its virtual mailbox domain; mail for it lands in Vmail
	Vmail  string // virtual_mailbox_base
	// CAFile is Postfix's self-signed certificate (for 127.0.0.1), which
	// it offers with STARTTLS; a client trusts it to check the name.
	CAFile string
	cmd    string
}

// pfMaster runs only what the tests use, none of it chrooted (a chroot
// would need copies of /etc files in the queue directory).
const pfMaster = `ADDR inet n - n - - smtpd
pickup unix n - n 60 1 pickup
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
tlsmgr unix - - n 1000? 1 tlsmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
flush unix n - n 1000? 0 flush
proxymap unix - - n - - proxymap
smtp unix - - n - - smtp
relay unix - - n - - smtp
lmtp unix - - n - - lmtp
showq unix n - n - - showq
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
local unix - n n - - local
virtual unix - n n - - virtual
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
postlog unix-dgram n - n - 1 postlogd
`

// startPostfix runs a Postfix that stores mail for pf.test in Maildirs
// and relays everything else to relayTo (host:port, "" for none), with
// DNS lookups off.
func startPostfix(t *testing.T, relayTo string) *postfixInstance {
	t.Helper()
	return startPostfixWith(t, relayTo, "")
}

// startPostfixWith is startPostfix with more lines for main.cf.
func startPostfixWith(t *testing.T, relayTo, extraMain string) *postfixInstance {
	t.Helper()
	postfix := testenv.Tool(t, "postfix")
	dir, err := os.MkdirTemp("", "mgpf-") // short: Postfix's unix socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	pf := &postfixInstance{Dir: dir, Addr: mgtest.FreeAddr(t), Domain: "pf.test", Vmail: filepath.Join(dir, "vmail"), cmd: postfix}
	for _, d := range []string{"etc", "spool", "data", "vmail"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// The virtual delivery agent writes as this uid; postfix's own user
	// is the one that surely exists wherever the package is installed.
	// Postfix's own processes (mail_owner) need to reach the queue and
	// own the data directory.
	uid, gid := postfixIDs(t)
	for _, d := range []string{pf.Vmail, filepath.Join(dir, "data")} {
		if err := os.Chown(d, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	relay := ""
	if relayTo != "" {
		relay = "[" + strings.Replace(relayTo, ":", "]:", 1)
	}
	main := fmt.Sprintf(`compatibility_level = 3.6
queue_directory = %[1]s/spool
data_directory = %[1]s/data
mail_owner = postfix
setgid_group = postdrop
myhostname = postfix.test
mydomain = postfix.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relayhost = %[2]s
disable_dns_lookups = yes
smtp_dns_support_level = disabled
smtp_host_lookup = native
smtp_tls_security_level = may
smtpd_tls_security_level = may
smtpd_tls_cert_file = %[1]s/etc/cert.pem
smtpd_tls_key_file = %[1]s/etc/key.pem
maillog_file = %[1]s/maillog
maillog_file_prefixes = %[1]s
virtual_mailbox_domains = %[3]s
virtual_mailbox_base = %[4]s
virtual_mailbox_maps = inline:{ {bob@%[3]s=bob/} }
virtual_uid_maps = static:%[5]d
virtual_gid_maps = static:%[6]d
virtual_minimum_uid = 1
biff = no
smtputf8_enable = no
`, dir, relay, pf.Domain, pf.Vmail, uid, gid) + extraMain
	pf.CAFile = writeCert(t, filepath.Join(dir, "etc"))
	writeFile(t, filepath.Join(dir, "etc"), "main.cf", main)
	writeFile(t, filepath.Join(dir, "etc"), "master.cf", strings.Replace(pfMaster, "ADDR", pf.Addr, 1))
	if out, err := runErr(dir, "", nil, postfix, "-c", filepath.Join(dir, "etc"), "start"); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "maillog"))
		t.Fatalf("postfix start: %v\n%s\nmaillog:\n%s", err, out, log)
	}
	t.Cleanup(func() {
		runErr(dir, "", nil, postfix, "-c", filepath.Join(dir, "etc"), "stop")
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "maillog"))
			t.Logf("postfix maillog:\n%s", log)
		}
	})
	waitListening(t, pf.Addr)
	return pf
}

func postfixIDs(t *testing.T) (int, int) {
	t.Helper()
	out, err := exec.Command("id", "-u", "postfix").Output()
	if err != nil {
		t.Fatalf("no postfix user: %v", err)
	}
	var uid, gid int
	fmt.Sscan(string(out), &uid)
	out, _ = exec.Command("id", "-g", "postfix").Output()
	fmt.Sscan(string(out), &gid)
	return uid, gid
}

// waitMaildir waits until n messages are in the Maildir of local part
// user and returns them. Postfix tells no one when it delivers, so the
// directory is checked each time a short ticker fires.
func (pf *postfixInstance) waitMaildir(t *testing.T, user string, n int) [][]byte {
	t.Helper()
	newDir := filepath.Join(pf.Vmail, user, "new")
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(mgtest.Timeout)
	for {
		if ents, _ := os.ReadDir(newDir); len(ents) >= n {
			return readDir(t, newDir)
		}
		select {
		case <-tick.C:
		case <-deadline:
			log, _ := os.ReadFile(filepath.Join(pf.Dir, "maillog"))
			t.Fatalf("Postfix stored fewer than %d messages for %s after %v; maillog:\n%s", n, user, mgtest.Timeout, log)
		}
	}
}

// writeCert writes a self-signed ECDSA certificate for 127.0.0.1 and its
// key as cert.pem and key.pem in dir, and returns the certificate's path.
func writeCert(t *testing.T, dir string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "postfix.test"},
		DNSNames: []string{"postfix.test"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "key.pem", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})))
	return writeFile(t, dir, "cert.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
}
