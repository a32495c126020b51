package e2e

import (
	"crypto/sha256"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"crypto/tls"

	"mailgate/internal/dnstest"
	"mailgate/internal/mgtest"
	"mailgate/internal/smtptest"
	"mailgate/internal/testenv"
	"mailgate/internal/testpki"
)

// policyServer serves MTA-STS policies over HTTPS on loopback, one per
// mta-sts.DOMAIN host name, with a certificate from ca.
func policyServer(t *testing.T, ca *testpki.CA, policies map[string]string) int {
	var names []string
	for d := range policies {
		names = append(names, "mta-sts."+d)
	}
	cert := ca.Issue(t, names...)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			host, _, _ := net.SplitHostPort(r.Host)
			p, ok := policies[strings.TrimPrefix(host, "mta-sts.")]
			if !ok || r.URL.Path != "/.well-known/mta-sts.txt" {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, p)
		}),
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}},
		ErrorLog:  log.New(io.Discard, "", 0),
	}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().(*net.TCPAddr).Port
}

// TestOutboundMTASTSAndDANE sends through the real binary to three
// domains served by one loopback MX whose certificate (from a test CA)
// names mx.sts.test: sts.test (MTA-STS enforce, names match: delivered),
// bad.test (MTA-STS enforce, its MX mx.bad.test is not in the
// certificate: deferred, never in clear) and dane.test (DNSSEC-signed
// TLSA 3 1 1 of the server's key: delivered, names do not matter). The
// TLS report counts are on disk after shutdown.
func TestOutboundMTASTSAndDANE(t *testing.T) {
	t.Parallel()
	swaks := testenv.Tool(t, "swaks")
	ca := testpki.New(t)
	mxCert := ca.Issue(t, "mx.sts.test")
	remote := smtptest.Start(t, smtptest.Config{Hostname: "mx.sts.test", STARTTLS: true, Certificate: &mxCert})
	httpsPort := policyServer(t, ca, map[string]string{
		"sts.test": "version: STSv1\r\nmode: enforce\r\nmx: mx.sts.test\r\nmax_age: 86400\r\n",
		"bad.test": "version: STSv1\r\nmode: enforce\r\nmx: mx.bad.test\r\nmax_age: 86400\r\n",
	})
	spki := sha256.Sum256(mxCert.Leaf.RawSubjectPublicKeyInfo)
	dns := dnstest.Start(t,
		"sts.test. 60 IN MX 10 mx.sts.test.", "mx.sts.test. 60 IN A 127.0.0.1",
		`_mta-sts.sts.test. 60 IN TXT "v=STSv1; id=one"`, "mta-sts.sts.test. 60 IN A 127.0.0.1",
		"bad.test. 60 IN MX 10 mx.bad.test.", "mx.bad.test. 60 IN A 127.0.0.1",
		`_mta-sts.bad.test. 60 IN TXT "v=STSv1; id=one"`, "mta-sts.bad.test. 60 IN A 127.0.0.1",
		"dane.test. 60 IN MX 10 mx.dane.test.", "mx.dane.test. 60 IN A 127.0.0.1",
		fmt.Sprintf("_%d._tcp.mx.dane.test. 60 IN TLSA 3 1 1 %x", remote.Port(), spki),
	)
	dns.Secure("dane.test", "mx.dane.test", fmt.Sprintf("_%d._tcp.mx.dane.test", remote.Port()))
	caFile := ca.WriteCA(t, t.TempDir())
	srv := mgtest.Start(t, mgtest.Options{
		Protocols: []string{"submission"},
		DNS:       dns.Addr,
		Delivery: fmt.Sprintf("  port: %d\n  mta_sts: {port: %d, ca_file: %s}\n  dane: {resolver: %q}\n",
			remote.Port(), httpsPort, caFile, dns.Addr),
		Users: map[string]string{"app@localhost": "app pass"},
	})
	host, port, _ := strings.Cut(srv.Addr["submission"], ":")
	for _, to := range []string{"a@sts.test", "b@bad.test", "c@dane.test"} {
		out, err := exec.Command(swaks, "--server", host, "--port", port, "--tls",
			"--auth", "PLAIN", "--auth-user", "app@localhost", "--auth-password", "app pass",
			"--from", "app@localhost", "--to", to, "--header", "Subject: to "+to, "--timeout", "30").CombinedOutput()
		if err != nil || queuedRE.FindStringSubmatch(string(out)) == nil {
			t.Fatalf("swaks to %s: %v\n%s", to, err, out)
		}
	}
	got := remote.WaitMessages(t, 2, mgtest.Timeout)
	var rcpts []string
	for _, m := range got {
		if !m.TLS {
			t.Errorf("message to %v went in clear", m.Rcpts)
		}
		rcpts = append(rcpts, m.Rcpts...)
	}
	if strings.Join(rcpts, ",") != "a@sts.test,c@dane.test" && strings.Join(rcpts, ",") != "c@dane.test,a@sts.test" {
		t.Fatalf("remote received %v, want a@sts.test and c@dane.test", rcpts)
	}
	srv.WaitLog("rcpt=a@sts.test route=remote result=delivered mta=mx.sts.test tls=mta-sts")
	srv.WaitLog("rcpt=c@dane.test route=remote result=delivered mta=mx.dane.test tls=dane")
	srv.WaitLog("rcpt=b@bad.test route=remote result=deferred mta=mx.bad.test command=TLS code=451 status=4.7.5")
	if n := len(remote.Messages()); n != 2 {
		t.Fatalf("remote has %d messages; bad.test's must stay queued", n)
	}
	if _, err := os.Stat(filepath.Join(srv.DataDir, "mta-sts", "sts.test.json")); err != nil {
		t.Errorf("policy not cached on disk: %v", err)
	}
	srv.Stop()
	day := time.Now().UTC().Format(time.DateOnly)
	b, err := os.ReadFile(filepath.Join(srv.DataDir, "reports", "tls", day+".json"))
	if err != nil {
		t.Fatalf("TLS report counts not kept: %v", err)
	}
	for _, want := range []string{`"domain":"sts.test","type":"sts"`, `"domain":"dane.test","type":"tlsa"`, `"result":"certificate-host-mismatch","mx_host":"mx.bad.test"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("TLS report counts lack %s:\n%s", want, b)
		}
	}
}
