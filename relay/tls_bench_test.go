package relay_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// submitter sends messages as an application does: logged in as alice,
// over STARTTLS (submission) or implicit TLS (submissions), with go-smtp's
// client.
type submitter struct {
	ts       *testServer
	listener string
	tls      *tls.Config // nil: plain text (allow_insecure_auth)
}

// open connects, upgrades and logs in.
func (s submitter) open() (*smtp.Client, error) {
	addr := s.ts.addr[s.listener]
	var c *smtp.Client
	var err error
	switch {
	case s.tls == nil:
		c, err = smtp.Dial(addr)
	case s.listener == "submissions":
		c, err = smtp.DialTLS(addr, s.tls)
	default:
		c, err = smtp.DialStartTLS(addr, s.tls)
	}
	if err != nil {
		return nil, err
	}
	if err := c.Auth(sasl.NewPlainClient("", alice, password)); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// send sends one message on c.
func (s submitter) send(c *smtp.Client, body string) error {
	return c.SendMail(alice, []string{bob}, strings.NewReader(body))
}

// resumed reports whether c's TLS session was resumed.
func resumed(c *smtp.Client) bool {
	st, ok := c.TLSConnectionState()
	return ok && st.DidResume
}

// TestTLSResumption: a client that keeps TLS sessions resumes them on
// its next connection, over STARTTLS and implicit TLS (session tickets,
// which crypto/tls servers issue unless told not to), so an application
// that opens a connection per message pays for a full handshake once.
func TestTLSResumption(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil)
	for _, listener := range []string{"submission", "submissions"} {
		cfg := ts.tls.Clone()
		cfg.ClientSessionCache = tls.NewLRUClientSessionCache(8)
		s := submitter{ts: ts, listener: listener, tls: cfg}
		for i, want := range []bool{false, true, true} {
			c, err := s.open()
			if err != nil {
				t.Fatalf("%s connection %d: %v", listener, i, err)
			}
			if err := s.send(c, message("resumption")); err != nil {
				t.Fatalf("%s connection %d: %v", listener, i, err)
			}
			if got := resumed(c); got != want {
				t.Errorf("%s connection %d: resumed %v, want %v", listener, i, got, want)
			}
			c.Quit()
		}
	}
}

// BenchmarkSubmission is the path applications use: TLS, AUTH PLAIN and
// one small message through the relay into the spool (fsync included),
// with a new connection per message (a full handshake or a resumed one;
// the generated ECDSA P-256 certificate or an RSA-2048 one) and on one
// reused connection (180 bytes and 100 KB). The chain-* cases run the
// default submission chain (ratelimit, sender_policy) plus dkim_sign with
// an Ed25519 or RSA-2048 key, as issue 16 measures it. ns/op is one
// message.
func BenchmarkSubmission(b *testing.B) {
	rsaCfg, rsaCert := rsaServer(b)
	for _, bc := range submissionCases {
		b.Run(bc.name, func(b *testing.B) {
			msg, edit := bc.setup(b)
			var ts *testServer
			if bc.rsa {
				ts = startServerTLS(b, edit, rsaCfg, rsaCert)
			} else {
				ts = startServer(b, edit)
			}
			cfg := ts.tls.Clone()
			if bc.resume {
				cfg.ClientSessionCache = tls.NewLRUClientSessionCache(8)
			}
			s := submitter{ts: ts, listener: bc.listener, tls: cfg}
			if bc.plain {
				s.tls = nil
			}
			cpu := cpuTime()
			if bc.reuse {
				benchReused(b, s, msg)
			} else {
				benchNewConn(b, s, msg, bc.resume)
			}
			// Wall time on a shared machine mostly measures the others'
			// load and the spool's fsync; CPU time (client and server,
			// both in this process) is the cost this benchmark is about.
			b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/float64(b.N), "cpu-µs/op")
		})
	}
}

func benchNewConn(b *testing.B, s submitter, body string, resume bool) {
	for b.Loop() {
		c, err := s.open()
		if err != nil {
			b.Fatal(err)
		}
		if err := s.send(c, body); err != nil {
			b.Fatal(err)
		}
		if resume && !resumed(c) && b.N > 1 {
			b.Log("a connection did not resume its TLS session")
		}
		c.Quit()
	}
}

func benchReused(b *testing.B, s submitter, body string) {
	c, err := s.open()
	if err != nil {
		b.Fatal(err)
	}
	defer c.Quit()
	for b.Loop() {
		if err := s.send(c, body); err != nil {
			b.Fatal(err)
		}
	}
}

// cpuTime is the CPU time this process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rsaServer returns a server TLS config with a self-signed RSA-2048
// certificate for the test hostname, and the certificate's file.
func rsaServer(b *testing.B) (*tls.Config, string) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: hostname}, DNSNames: []string{hostname},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		b.Fatal(err)
	}
	file := filepath.Join(b.TempDir(), "rsa.crt")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		b.Fatal(err)
	}
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, file
}
