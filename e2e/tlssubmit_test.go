package e2e

import (
	"crypto/tls"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"mailgate/internal/mgtest"
	"mailgate/internal/testenv"
	"mailgate/internal/testpki"
)

// TestTLSResumesOnSubmissionPorts: a Go client that keeps TLS sessions
// (ClientSessionCache) resumes its session on its next connection to 587
// (STARTTLS) and 465 (implicit TLS) of the real binary, and logs in and
// sends as before.
func TestTLSResumesOnSubmissionPorts(t *testing.T) {
	srv := mgtest.Start(t, mgtest.Options{Users: map[string]string{"app@localhost": "pw-resume"}})
	for _, proto := range []string{"submission", "submissions"} {
		cfg := srv.ClientTLS()
		cfg.ClientSessionCache = tls.NewLRUClientSessionCache(4)
		for i, want := range []bool{false, true, true} {
			c := dialSubmit(t, srv.Addr[proto], proto, cfg)
			if err := c.Auth(sasl.NewPlainClient("", "app@localhost", "pw-resume")); err != nil {
				t.Fatalf("%s connection %d: AUTH: %v", proto, i, err)
			}
			msg := "From: app@localhost\r\nTo: app@localhost\r\nSubject: resume\r\n\r\nhi\r\n"
			if err := c.SendMail("app@localhost", []string{"app@localhost"}, strings.NewReader(msg)); err != nil {
				t.Fatalf("%s connection %d: send: %v", proto, i, err)
			}
			st, _ := c.TLSConnectionState()
			if st.DidResume != want {
				t.Errorf("%s connection %d: DidResume %v, want %v", proto, i, st.DidResume, want)
			}
			c.Quit()
		}
	}
}

// dialSubmit opens a TLS connection to a submission (STARTTLS) or
// submissions (implicit TLS) listener.
func dialSubmit(t *testing.T, addr, proto string, cfg *tls.Config) *smtp.Client {
	t.Helper()
	dial := smtp.DialStartTLS
	if proto == "submissions" {
		dial = smtp.DialTLS
	}
	c, err := dial(addr, cfg)
	if err != nil {
		t.Fatalf("%s: %v", proto, err)
	}
	return c
}

// TestTLSOffersECDSAAndRSA: with an RSA pair in tls.cert_file and an
// ECDSA pair in tls.more_certificates, openssl s_client is given the
// ECDSA certificate unless it accepts RSA signatures only, on 465 and
// 587; dns-records prints a TLSA record for each.
func TestTLSOffersECDSAAndRSA(t *testing.T) {
	openssl := testenv.Tool(t, "openssl")
	dir := t.TempDir()
	rsaCert, rsaKey := filepath.Join(dir, "rsa.crt"), filepath.Join(dir, "rsa.key")
	out, err := exec.Command(openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
		"-keyout", rsaKey, "-out", rsaCert, "-subj", "/CN=mail.example.test",
		"-addext", "subjectAltName=DNS:mail.example.test").CombinedOutput()
	if err != nil {
		t.Fatalf("openssl req: %v\n%s", err, out)
	}
	ecDir := filepath.Join(dir, "ec")
	os.Mkdir(ecDir, 0o700)
	ecCert, ecKey := testpki.WriteFiles(t, ecDir, testpki.New(t).Issue(t, "mail.example.test"))
	srv := mgtest.Start(t, mgtest.Options{Hostname: "mail.example.test", Config: "tls:\n  cert_file: " + rsaCert +
		"\n  key_file: " + rsaKey + "\n  more_certificates:\n    - {cert_file: " + ecCert + ", key_file: " + ecKey + "}\n"})
	for _, c := range []struct {
		proto, sigalgs, want string
	}{
		{"submissions", "", "Signature type: ECDSA"},
		{"submissions", "rsa_pss_rsae_sha256:rsa_pkcs1_sha256", "Signature type: RSA"},
		{"submission", "", "Signature type: ECDSA"},
		{"submission", "rsa_pss_rsae_sha256:rsa_pkcs1_sha256", "Signature type: RSA"},
	} {
		args := []string{"s_client", "-connect", srv.Addr[c.proto], "-servername", "mail.example.test", "-brief"}
		if c.proto == "submission" {
			args = append(args, "-starttls", "smtp")
		}
		if c.sigalgs != "" {
			args = append(args, "-sigalgs", c.sigalgs)
		}
		cmd := exec.Command(openssl, args...)
		cmd.Stdin = strings.NewReader("QUIT\r\n")
		out, _ := cmd.CombinedOutput()
		if !strings.Contains(string(out), "Server Temp Key") && !strings.Contains(string(out), "Peer certificate") {
			t.Fatalf("%s: openssl s_client did not connect:\n%s", c.proto, out)
		}
		if !strings.Contains(string(out), c.want) {
			t.Errorf("%s sigalgs %q: no %q in s_client's output:\n%s", c.proto, c.sigalgs, c.want, out)
		}
	}
	out2, code := mgtest.Run(t, dir, "", "dns-records", "example.test", "-config", srv.ConfigPath)
	if n := len(regexp.MustCompile(`(?m)^_25\._tcp\.mail\.example\.test\. 3600 IN TLSA 3 1 1 [0-9a-f]{64}$`).FindAllString(out2, -1)); n != 2 {
		t.Errorf("dns-records (exit %d) prints %d TLSA records, want 2:\n%s", code, n, out2)
	}
}
