package certs

import (
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"golang.org/x/crypto/acme/autocert"

	"mailgate/internal/testpki"
)

// acmeManager is a self-signed Manager for mail.example.test that uses
// ACME for names; it never reaches a CA unless StartACME is called.
func acmeManager(t *testing.T, http01 bool, names ...string) *Manager {
	t.Helper()
	m, _, err := SelfSigned(t.TempDir(), "mail.example.test")
	if err != nil {
		t.Fatal(err)
	}
	err = m.UseACME(ACMEOptions{
		Hostname: "mail.example.test", Names: names, Directory: "https://127.0.0.1:1/dir",
		CacheDir: filepath.Join(t.TempDir(), "acme"), HTTP01: http01, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestACMENamesAndNoSNI: a client that names no server, or a name not in
// tls.acme.names, gets the hostname's certificate; a listed name gets its
// own once held, the hostname's before; with nothing held yet, the
// self-signed one.
func TestACMENamesAndNoSNI(t *testing.T) {
	t.Parallel()
	m := acmeManager(t, false, "mail.example.test", "mta-sts.example.test", "imap.example.test")
	selfSigned, _ := m.GetCertificate(&tls.ClientHelloInfo{})
	if selfSigned.Leaf == nil {
		selfSigned.Leaf, _ = x509.ParseCertificate(selfSigned.Certificate[0])
	}
	if selfSigned.Leaf.Subject.Organization[0] != "mailgate self-signed" {
		t.Fatalf("before any ACME certificate: %v", selfSigned.Leaf.Subject)
	}
	ca := testpki.New(t)
	host := ca.IssueValid(t, time.Now().Add(-time.Hour), time.Now().Add(90*24*time.Hour), "mail.example.test")
	sts := ca.IssueValid(t, time.Now().Add(-time.Hour), time.Now().Add(60*24*time.Hour), "mta-sts.example.test")
	m.acme.set("mail.example.test", &host)
	m.acme.set("mta-sts.example.test", &sts)
	for _, tc := range []struct{ sni, want string }{
		{"", "mail.example.test"},
		{"mail.example.test", "mail.example.test"},
		{"MTA-STS.example.test.", "mta-sts.example.test"},
		{"imap.example.test", "mail.example.test"}, // listed, not held yet
		{"other.example.net", "mail.example.test"},
	} {
		c, err := m.GetCertificate(&tls.ClientHelloInfo{ServerName: tc.sni})
		if err != nil || c.Leaf.DNSNames[0] != tc.want {
			t.Errorf("SNI %q: got %v (err %v), want the certificate of %s", tc.sni, c.Leaf.DNSNames, err, tc.want)
		}
	}
	if got := m.Leaf(); !got.Equal(sts.Leaf) {
		t.Errorf("Leaf (expiry metric) is %v, want the one expiring first (mta-sts)", got.DNSNames)
	}
}

// TestACMEHandshakes: over real TLS, a client without SNI that offers
// its own ALPN protocol (as some IMAP clients do) gets the hostname's
// certificate and no protocol; a CA's tls-alpn-01 check negotiates
// acme-tls/1 and gets the challenge certificate, but only when
// tls-alpn-01 is the configured challenge.
func TestACMEHandshakes(t *testing.T) {
	t.Parallel()
	ca := testpki.New(t)
	for _, http01 := range []bool{false, true} {
		m := acmeManager(t, http01, "mail.example.test")
		host := ca.Issue(t, "mail.example.test")
		m.acme.set("mail.example.test", &host)
		token := ca.Issue(t, "mail.example.test")
		writeCacheEntry(t, m.acme.mgr.Cache.(watchedCache).DirCache, "mail.example.test+token", token)

		st, err := handshake(m.TLSConfig(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"imap"}})
		if err != nil || !st.PeerCertificates[0].Equal(host.Leaf) || st.NegotiatedProtocol != "" {
			t.Errorf("http01=%v: client without SNI: err %v, protocol %q", http01, err, st.NegotiatedProtocol)
		}
		chal := &tls.Config{InsecureSkipVerify: true, ServerName: "mail.example.test", NextProtos: []string{"acme-tls/1"}}
		st, err = handshake(m.TLSConfig(), chal)
		if http01 {
			if err == nil {
				t.Errorf("http-01 configured: the tls-alpn-01 check got a certificate")
			}
			continue
		}
		if err != nil || st.NegotiatedProtocol != "acme-tls/1" || !st.PeerCertificates[0].Equal(token.Leaf) {
			t.Errorf("tls-alpn-01 check: err %v, protocol %q", err, st.NegotiatedProtocol)
		}
	}
}

// handshake runs a TLS handshake between server and client over a pipe.
func handshake(server, client *tls.Config) (tls.ConnectionState, error) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go func() {
		s := tls.Server(b, server)
		s.Handshake()
		s.Close()
	}()
	c := tls.Client(a, client)
	c.SetDeadline(time.Now().Add(10 * time.Second))
	err := c.Handshake()
	return c.ConnectionState(), err
}

// writeCacheEntry stores cert as autocert does: key, then chain.
func writeCacheEntry(t *testing.T, cache autocert.Cache, key string, cert tls.Certificate) {
	t.Helper()
	der, err := x509.MarshalECPrivateKey(cert.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	data := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
	for _, c := range cert.Certificate {
		data = append(data, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c})...)
	}
	if err := cache.Put(context.Background(), key, data); err != nil {
		t.Fatal(err)
	}
}

// TestACMEHostPolicy: autocert may order certificates for the listed
// names only, however a client or the http-01 Host header spells them.
func TestACMEHostPolicy(t *testing.T) {
	t.Parallel()
	m := acmeManager(t, true, "mail.example.test", "mta-sts.example.test")
	for host, ok := range map[string]bool{
		"mail.example.test": true, "MAIL.example.test.": true, "mta-sts.example.test:5002": true,
		"example.test": false, "127.0.0.1": false, "evil.example.net:80": false, "": false,
	} {
		if err := m.acme.policy(context.Background(), host); (err == nil) != ok {
			t.Errorf("policy(%q) = %v, want allowed=%v", host, err, ok)
		}
	}
	if acmeManager(t, false, "mail.example.test").HTTPHandler() != nil {
		t.Error("HTTPHandler with tls-alpn-01")
	}
	// The http-01 responder answers a token for a listed Host only.
	m.acme.mgr.Cache.Put(context.Background(), "tok+http-01", []byte("tok.keyauth"))
	for host, want := range map[string]int{"mail.example.test:5002": 200, "evil.example.net": 403} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "http://"+host+"/.well-known/acme-challenge/tok", nil)
		m.HTTPHandler().ServeHTTP(rec, req)
		if rec.Code != want || (want == 200 && rec.Body.String() != "tok.keyauth") {
			t.Errorf("Host %s: %d %q, want %d", host, rec.Code, rec.Body.String(), want)
		}
	}
}

// TestACMEIssuedIsUsedAndCounted: a certificate autocert stores (a new
// one, or a renewal) is served at once and counted; other cache entries
// (account key, tokens) are not.
func TestACMEIssuedIsUsedAndCounted(t *testing.T) {
	t.Parallel()
	m := acmeManager(t, false, "mail.example.test")
	cache := m.acme.mgr.Cache.(watchedCache)
	ca := testpki.New(t)
	writeCacheEntry(t, cache, "mail.example.test+token", ca.Issue(t, "mail.example.test"))
	issued := ca.Issue(t, "mail.example.test")
	writeCacheEntry(t, cache, "mail.example.test", issued)
	if n := count(m.acme.metrics.orders, "issued"); n != 1 {
		t.Errorf("issued = %v, want 1", n)
	}
	if c, _ := m.GetCertificate(&tls.ClientHelloInfo{}); !c.Leaf.Equal(issued.Leaf) {
		t.Errorf("the stored certificate is not served")
	}
	fi, err := os.Stat(filepath.Dir(filepath.Join(string(cache.DirCache), "x")))
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("cache directory: %v, mode %v", err, fi.Mode().Perm())
	}
}

// TestACMERetriesWithBackoff: failures are counted and retried, and the
// certificate is served once an attempt succeeds.
func TestACMERetriesWithBackoff(t *testing.T) {
	t.Parallel()
	m := acmeManager(t, false, "mail.example.test")
	m.acme.retry = 5 * time.Millisecond
	cert := testpki.New(t).Issue(t, "mail.example.test")
	var calls atomic.Int32
	m.acme.obtain = func(name string) (*tls.Certificate, error) {
		if calls.Add(1) <= 2 {
			return nil, errors.New("dial tcp 127.0.0.1:1: connection refused")
		}
		return &cert, nil
	}
	m.StartACME()
	defer m.StopACME()
	deadline := time.Now().Add(10 * time.Second)
	for m.acme.leaf() == nil && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if c, _ := m.GetCertificate(&tls.ClientHelloInfo{}); !c.Leaf.Equal(cert.Leaf) {
		t.Fatalf("after %d attempts the certificate is not served", calls.Load())
	}
	if n := count(m.acme.metrics.orders, "failed"); n != 2 {
		t.Errorf("failed = %v, want 2", n)
	}
}

// count reads one counter of v.
func count(v *prometheus.CounterVec, label string) float64 {
	var m dto.Metric
	v.WithLabelValues(label).Write(&m)
	return m.GetCounter().GetValue()
}
