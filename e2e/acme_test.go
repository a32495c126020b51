package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"mailgate/internal/dnstest"
	"mailgate/internal/mgtest"
	"mailgate/internal/testenv"
	"mailgate/internal/testpki"
)

// pebble is Let's Encrypt's ACME test server (Debian package pebble) on
// loopback, validating challenges for real against the ports it is
// given, with names resolved by a dnstest server.
type pebble struct {
	Directory string // https://127.0.0.1:PORT/dir
	CAFile    string // the root of pebble's own HTTPS (for tls.acme.ca_file)
	mgmt      string // management interface, host:port
	client    *http.Client
	cmd       *exec.Cmd
	logFile   string // pebble's output
}

// startPebble runs pebble until the test ends. httpPort and tlsPort are
// where it checks http-01 and tls-alpn-01 challenges.
func startPebble(t *testing.T, dnsAddr string, httpPort, tlsPort string) *pebble {
	t.Helper()
	bin := testenv.Tool(t, "pebble")
	dir := t.TempDir()
	ca := testpki.New(t)
	certFile, keyFile := testpki.WriteFiles(t, dir, ca.Issue(t, "127.0.0.1", "localhost"))
	api, mgmt := mgtest.FreeAddr(t), mgtest.FreeAddr(t)
	cfg := map[string]any{"pebble": map[string]any{
		"listenAddress": api, "managementListenAddress": mgmt, "certificate": certFile, "privateKey": keyFile,
		"httpPort": atoi(t, httpPort), "tlsPort": atoi(t, tlsPort), "ocspResponderURL": "", "externalAccountBindingRequired": false,
	}}
	b, _ := json.Marshal(cfg)
	cfgFile := writeFile(t, dir, "pebble.json", string(b))
	p := &pebble{Directory: "https://" + api + "/dir", CAFile: ca.WriteCA(t, dir), mgmt: mgmt, logFile: filepath.Join(dir, "pebble.log"),
		client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool}}}}
	p.cmd = exec.Command(bin, "-config", cfgFile, "-dnsserver", dnsAddr)
	// No artificial waits before validating; no nonce refused on purpose
	// (autocert retries those, but a test should not depend on luck).
	// PEBBLE_VA_ALWAYS_VALID is not set: every challenge is checked.
	p.cmd.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0")
	logf, err := os.Create(p.logFile)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close() // pebble has its own copy
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("pebble log:\n%s", p.log())
		}
	})
	p.waitReady(t)
	return p
}

// waitReady waits until pebble answers its directory.
func (p *pebble) waitReady(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := p.client.Get(p.Directory)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("pebble not answering %s after 30s: %v\n%s", p.Directory, err, p.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// log is what pebble has written so far.
func (p *pebble) log() string {
	b, _ := os.ReadFile(p.logFile)
	return string(b)
}

// stop kills pebble (it keeps nothing on disk) and waits for it.
func (p *pebble) stop() {
	if p.cmd.ProcessState == nil {
		p.cmd.Process.Kill()
		p.cmd.Wait()
	}
}

// root fetches pebble's root certificate, which it makes anew at each
// start, from its management interface.
func (p *pebble) root(t *testing.T) *x509.Certificate {
	t.Helper()
	resp, err := p.client.Get("https://" + p.mgmt + "/roots/0")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	blk, _ := pem.Decode(body)
	if blk == nil {
		t.Fatalf("pebble /roots/0: %s: %q", resp.Status, body)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatalf("port %q: %v", s, err)
	}
	return n
}

// acmeConfig is the tls block of a server that gets its certificates
// from p.
func acmeConfig(p *pebble, challenge string, names ...string) string {
	s := fmt.Sprintf("tls:\n  acme:\n    email: postmaster@acme.test\n    directory: %s\n    ca_file: %s\n    challenge: %s\n    accept_tos: true\n",
		p.Directory, p.CAFile, challenge)
	if len(names) > 0 {
		s += "    names: [" + strings.Join(names, ", ") + "]\n"
	}
	return s
}

// starttlsChain speaks SMTP to addr, STARTTLS without SNI (an empty
// ServerName sends no server_name extension, as most MTAs do), and
// returns the certificates the server presents.
func starttlsChain(t *testing.T, addr string) []*x509.Certificate {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	c, err := smtp.NewClientStartTLS(conn, &tls.Config{InsecureSkipVerify: true}) // verified below, by hand
	if err != nil {
		t.Fatalf("STARTTLS to %s: %v", addr, err)
	}
	defer c.Close()
	if err := c.Noop(); err != nil {
		t.Fatalf("NOOP after STARTTLS: %v", err)
	}
	st, _ := c.TLSConnectionState()
	return st.PeerCertificates
}

// tlsChain opens implicit TLS to addr with sni ("" sends none) and
// returns the certificates the server presents after its greeting.
func tlsChain(t *testing.T, addr, sni string) []*x509.Certificate {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	tc := tls.Client(conn, &tls.Config{ServerName: sni, InsecureSkipVerify: true})
	defer tc.Close()
	tc.SetDeadline(time.Now().Add(30 * time.Second))
	line := make([]byte, 512)
	n, err := tc.Read(line)
	if err != nil || !bytes.HasPrefix(line[:n], []byte("* OK")) {
		t.Fatalf("IMAPS greeting from %s: %q, %v", addr, line[:n], err)
	}
	return tc.ConnectionState().PeerCertificates
}

// verifyChain checks that chain is a certificate for name issued under
// root (through the intermediates the server sent).
func verifyChain(t *testing.T, what string, chain []*x509.Certificate, root *x509.Certificate, name string) {
	t.Helper()
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(root)
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	if _, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: name}); err != nil {
		t.Errorf("%s: the certificate (subject %s, issuer %s) does not verify as %s under pebble's root: %v",
			what, chain[0].Subject, chain[0].Issuer, name, err)
	}
}

// TestACMEIssuesAndServes runs the real binary against pebble with each
// challenge: the certificate is obtained at start-up (no client asks for
// it), validated for real on mailgate's own listener, and then presented
// to a client that sends no SNI on SMTP STARTTLS and on IMAPS, verified
// up to pebble's root. After a restart with pebble gone, the same
// certificate comes from the cache on disk.
func TestACMEIssuesAndServes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		challenge string
		answerer  string   // the listener pebble checks the challenge on
		names     []string // tls.acme.names ("": the hostname only)
	}{
		{"tls-alpn-01", "api", []string{"mail.acme.test", "mta-sts.acme.test"}},
		// pebble's tls-alpn-01 check goes to the imaps listener, which
		// must refuse it: only http-01 can succeed.
		{"http-01", "http", nil},
	} {
		t.Run(tc.challenge, func(t *testing.T) {
			t.Parallel()
			testACMEChallenge(t, tc.challenge, tc.answerer, tc.names)
		})
	}
}

func testACMEChallenge(t *testing.T, challenge, answerer string, names []string) {
	dns := dnstest.Start(t, "mail.acme.test. 60 IN A 127.0.0.1", "mta-sts.acme.test. 60 IN A 127.0.0.1")
	addrs := map[string]string{"smtp": mgtest.FreeAddr(t), "imaps": mgtest.FreeAddr(t), "api": mgtest.FreeAddr(t), "http": mgtest.FreeAddr(t)}
	tlsPort, httpPort := portOf(addrs["imaps"]), portOf(addrs["http"])
	if answerer == "api" {
		tlsPort = portOf(addrs["api"])
	}
	pb := startPebble(t, dns.Addr, httpPort, tlsPort)
	srv := mgtest.Start(t, mgtest.Options{Hostname: "mail.acme.test", LocalDomain: "acme.test",
		Protocols: []string{"smtp", "imaps", "api", "http"}, Addrs: addrs, Config: acmeConfig(pb, challenge, names...) + "mta_sts:\n  mode: testing\n"})
	srv.WaitLog(`msg="acme: certificate in use" name=mail.acme.test`)
	if !strings.Contains(srv.Logs(), "acme: answered a"+map[string]string{"tls-alpn-01": " tls-alpn-01", "http-01": "n http-01"}[challenge]+" challenge") {
		t.Errorf("no log line says mailgate answered the %s challenge", challenge)
	}
	root := pb.root(t)
	smtpChain := starttlsChain(t, srv.Addr["smtp"])
	verifyChain(t, "SMTP STARTTLS without SNI", smtpChain, root, "mail.acme.test")
	imapsChain := tlsChain(t, srv.Addr["imaps"], "")
	verifyChain(t, "IMAPS without SNI", imapsChain, root, "mail.acme.test")
	leaves := []*x509.Certificate{smtpChain[0]}
	if len(names) > 1 {
		leaves = append(leaves, checkOtherNames(t, srv, root))
	}
	checkExpiryAndTLSA(t, srv, leaves)

	// Restart with the CA gone: the certificate comes from the cache.
	issued := strings.Count(srv.Logs(), `msg="acme: certificate issued"`)
	srv.Stop()
	pb.stop()
	srv.Restart()
	srv.WaitLog(`msg="acme: certificate in use" name=mail.acme.test`)
	if again := starttlsChain(t, srv.Addr["smtp"]); !again[0].Equal(smtpChain[0]) {
		t.Errorf("after a restart without the CA, STARTTLS presents another certificate (serial %v, was %v)", again[0].SerialNumber, smtpChain[0].SerialNumber)
	}
	if n := strings.Count(srv.Logs(), `msg="acme: certificate issued"`); n != issued {
		t.Errorf("the restart issued certificates: %d issued lines, %d before", n, issued)
	}
}

// checkOtherNames: a listed name gets its own certificate when a client
// asks for it by SNI (returned); an unlisted one gets the hostname's.
func checkOtherNames(t *testing.T, srv *mgtest.Server, root *x509.Certificate) *x509.Certificate {
	t.Helper()
	srv.WaitLog(`msg="acme: certificate in use" name=mta-sts.acme.test`)
	sts := tlsChain(t, srv.Addr["imaps"], "mta-sts.acme.test")
	verifyChain(t, "IMAPS with SNI mta-sts.acme.test", sts, root, "mta-sts.acme.test")
	verifyChain(t, "IMAPS with SNI other.example.net", tlsChain(t, srv.Addr["imaps"], "other.example.net"), root, "mail.acme.test")
	checkPolicyOverHTTPS(t, srv.Addr["api"], root)
	if n, _ := scrapeMetrics(t, srv).value("mailgate_acme_orders_total", "result", "issued"); n != 2 {
		t.Errorf("mailgate_acme_orders_total{result=\"issued\"} = %v, want 2", n)
	}
	return sts[0]
}

// checkPolicyOverHTTPS: a sender fetches the MTA-STS policy from the api
// listener as https://mta-sts.acme.test/, verifying the certificate.
func checkPolicyOverHTTPS(t *testing.T, apiAddr string, root *x509.Certificate) {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AddCert(root)
	dial := func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, apiAddr) // mta-sts.acme.test resolves here
	}
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: dial, TLSClientConfig: &tls.Config{RootCAs: roots}}}
	resp, err := c.Get("https://mta-sts.acme.test/.well-known/mta-sts.txt")
	if err != nil {
		t.Fatalf("MTA-STS policy over HTTPS: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(body), "version: STSv1\r\nmode: testing\r\nmx: mail.acme.test\r\n") {
		t.Errorf("MTA-STS policy: %s\n%q", resp.Status, body)
	}
}

// checkExpiryAndTLSA: the expiry metric is of the ACME certificate that
// expires first, and dns-records prints the TLSA record of the
// hostname's (leaves[0]) key.
func checkExpiryAndTLSA(t *testing.T, srv *mgtest.Server, leaves []*x509.Certificate) {
	t.Helper()
	first := leaves[0].NotAfter
	for _, l := range leaves {
		if l.NotAfter.Before(first) {
			first = l.NotAfter
		}
	}
	if got, _ := scrapeMetrics(t, srv).value("mailgate_tls_certificate_expiry_timestamp_seconds"); got != float64(first.Unix()) {
		t.Errorf("expiry metric %v, want the first ACME certificate to expire: %v", got, first.Unix())
	}
	leaf := leaves[0]
	out, code := srv.Run("", "dns-records", "acme.test", "-config", srv.ConfigPath)
	spki := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	if tlsa := fmt.Sprintf("TLSA 3 1 1 %x", spki); code != 0 || !strings.Contains(out, tlsa) {
		t.Errorf("dns-records (exit %d) does not print %s:\n%s", code, tlsa, out)
	}
}

// TestACMEUnreachableKeepsSelfSigned: with the CA unreachable from the
// start, STARTTLS still works with the self-signed certificate, and the
// log and the failure count say why no certificate came.
func TestACMEUnreachableKeepsSelfSigned(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := testpki.New(t)
	closed := mgtest.FreeAddr(t) // nothing listens there
	cfg := fmt.Sprintf("tls:\n  acme:\n    directory: https://%s/dir\n    ca_file: %s\n    accept_tos: true\n", closed, ca.WriteCA(t, dir))
	srv := mgtest.Start(t, mgtest.Options{Hostname: "mail.acme.test", LocalDomain: "acme.test",
		Protocols: []string{"smtp", "submissions", "http"}, Config: cfg})
	line := srv.WaitLog(`msg="acme: certificate not obtained; listeners keep the certificate they have" name=mail.acme.test`)
	if !strings.Contains(line, "connection refused") || !strings.Contains(line, "retry_in=2m0s") {
		t.Errorf("the log does not say why, nor when it tries again: %s", line)
	}
	c, err := smtp.DialStartTLS(srv.Addr["smtp"], srv.ClientTLS())
	if err != nil {
		t.Fatalf("STARTTLS with the self-signed certificate: %v", err)
	}
	c.Close()
	m := scrapeMetrics(t, srv)
	if n, _ := m.value("mailgate_acme_orders_total", "result", "failed"); n != 1 {
		t.Errorf("mailgate_acme_orders_total{result=\"failed\"} = %v, want 1", n)
	}
	if out := promtool(t, m.raw, "check", "metrics"); strings.TrimSpace(out) != "" {
		t.Errorf("promtool check metrics:\n%s", out)
	}
	if fi, err := os.Stat(filepath.Join(srv.DataDir, "acme")); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("cache directory %v: %v", fi.Mode().Perm(), err)
	}
}

// TestACMECheckConfig: check-config names the line of each problem of a
// tls.acme block.
func TestACMECheckConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := writeFile(t, dir, "acme.yaml", `hostname: mail.example.com
data_dir: `+dir+`
listeners:
  - name: mx
    protocol: smtp
    address: 127.0.0.1:2525
tls:
  acme:
    email: postmaster@example.com
    names: [mail.example.com, mta-sts]
    challenge: http-01
    accept_tos: false
`)
	out, code := mgtest.Run(t, dir, "", "check-config", path)
	want := path + `:10: tls.acme.names[1]: "mta-sts" cannot get a certificate from a CA; write the server's public host name, such as mail.example.com
` + path + `:11: tls.acme.challenge: http-01 is answered on port 80 by the http listener, and there is none; add one such as {name: http, protocol: http, address: "[::]:80"}, or use challenge: tls-alpn-01
` + path + `:12: tls.acme.accept_tos: must be true: the CA issues certificates only to accounts that agree to its terms of service (Let's Encrypt: https://letsencrypt.org/repository/); read them, then write accept_tos: true
`
	if code != 1 || out != want {
		t.Errorf("check-config: exit %d\n%s\nwant exit 1\n%s", code, out, want)
	}
}
