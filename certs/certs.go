// Package certs supplies the TLS certificate every listener presents. It
// rereads the certificate and key files when they change on disk, so a
// renewal (certbot, acme.sh) takes effect without a restart; with no files
// configured it generates a self-signed certificate once, which also
// serves until certificates obtained over ACME (acme.go) are held.
package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"mailgate/internal/safefile"
)

// Manager holds the current certificates: one pair, or several for the
// same names with different key types (an RSA and an ECDSA pair), of
// which each client gets the cheapest it supports.
type Manager struct {
	pairs []*pair
	now   func() time.Time
	acme  *acmeSource // nil unless UseACME

	mu      sync.Mutex
	checked time.Time
}

// Pair names a certificate file and its key file (PEM).
type Pair struct{ CertFile, KeyFile string }

// pair is one Pair and what was last loaded from it.
type pair struct {
	Pair
	cert  *tls.Certificate // guarded by Manager.mu
	stamp [2]time.Time
}

// New loads certFile and keyFile, and the further pairs in more.
func New(certFile, keyFile string, more ...Pair) (*Manager, error) {
	m := &Manager{now: time.Now}
	for _, p := range append([]Pair{{certFile, keyFile}}, more...) {
		m.pairs = append(m.pairs, &pair{Pair: p})
	}
	for _, p := range m.pairs {
		if err := m.load(p); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// SelfSigned returns a Manager for a self-signed certificate for hostname
// kept in dir (generated on first use). generated is true when it was
// made just now. The certificate also names localhost, 127.0.0.1 and
// ::1, so a client that verifies against it works on loopback as the
// README shows; one made before it did (or for another hostname) is
// made again.
func SelfSigned(dir, hostname string) (m *Manager, generated bool, err error) {
	certFile, keyFile := filepath.Join(dir, "selfsigned.crt"), filepath.Join(dir, "selfsigned.key")
	if !namesAll(certFile, hostname) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, false, err
		}
		if err := generate(certFile, keyFile, hostname); err != nil {
			return nil, false, err
		}
		generated = true
	}
	m, err = New(certFile, keyFile)
	return m, generated, err
}

// load rereads p's files when their modification times changed.
func (m *Manager) load(p *pair) error {
	cs, err1 := os.Stat(p.CertFile)
	ks, err2 := os.Stat(p.KeyFile)
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	stamp := [2]time.Time{cs.ModTime(), ks.ModTime()}
	m.mu.Lock()
	same := p.cert != nil && stamp == p.stamp
	m.mu.Unlock()
	if same {
		return nil
	}
	cert, err := tls.LoadX509KeyPair(p.CertFile, p.KeyFile)
	if err != nil {
		return fmt.Errorf("certs: %v", err)
	}
	m.mu.Lock()
	p.cert, p.stamp = &cert, stamp
	m.mu.Unlock()
	return nil
}

// GetCertificate is for tls.Config: it checks the files at most once a
// second and keeps serving the old certificate if the new one is broken
// (half-written during a renewal, say). With several pairs the client
// gets the first ECDSA one it supports (a full handshake costs less CPU
// than with RSA: relay BenchmarkSubmission), else the first it supports,
// else the first pair (the handshake then says what is wrong).
func (m *Manager) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if m.acme != nil && hello != nil {
		if c, err := m.acme.certificate(hello); c != nil || err != nil {
			return c, err
		}
	}
	m.mu.Lock()
	due := m.now().Sub(m.checked) >= time.Second
	if due {
		m.checked = m.now()
	}
	m.mu.Unlock()
	if due {
		for _, p := range m.pairs {
			_ = m.load(p)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if hello == nil || len(m.pairs) == 1 {
		return m.pairs[0].cert, nil
	}
	return m.choose(hello), nil
}

// choose picks the certificate for hello; m.mu is held.
func (m *Manager) choose(hello *tls.ClientHelloInfo) *tls.Certificate {
	var fallback *tls.Certificate
	for _, p := range m.pairs {
		if hello.SupportsCertificate(p.cert) != nil {
			continue
		}
		if _, ok := p.cert.PrivateKey.(*ecdsa.PrivateKey); ok {
			return p.cert
		}
		if fallback == nil {
			fallback = p.cert
		}
	}
	if fallback == nil {
		fallback = m.pairs[0].cert
	}
	return fallback
}

// Leaf returns the current certificate that expires first (for expiry
// metrics and the reload log): of those obtained over ACME once there is
// one.
func (m *Manager) Leaf() *x509.Certificate {
	if m.acme != nil {
		if leaf := m.acme.leaf(); leaf != nil {
			return leaf
		}
	}
	m.GetCertificate(nil) // rereads changed files
	m.mu.Lock()
	certs := make([]*tls.Certificate, len(m.pairs))
	for i, p := range m.pairs {
		certs[i] = p.cert
	}
	m.mu.Unlock()
	var first *x509.Certificate
	for _, c := range certs {
		if c == nil || len(c.Certificate) == 0 {
			continue
		}
		leaf, err := x509.ParseCertificate(c.Certificate[0])
		if err == nil && (first == nil || leaf.NotAfter.Before(first.NotAfter)) {
			first = leaf
		}
	}
	return first
}

// TLSConfig returns a server config using the manager; TLS 1.2 minimum.
// With ACME's tls-alpn-01 it also answers the CA's checks.
func (m *Manager) TLSConfig() *tls.Config {
	c := &tls.Config{GetCertificate: m.GetCertificate, MinVersion: tls.VersionTLS12}
	if m.acme != nil && !m.acme.http01 {
		c.GetConfigForClient = challengeConfig(c)
	}
	return c
}

func generate(certFile, keyFile, hostname string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: hostname, Organization: []string{"mailgate self-signed"}},
		DNSNames:     dnsNames(hostname),
		IPAddresses:  loopbackIPs,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().AddDate(5, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := safefile.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		return err
	}
	return safefile.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

// loopbackIPs are the addresses every self-signed certificate names.
var loopbackIPs = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}

// dnsNames are the names of a self-signed certificate for hostname.
func dnsNames(hostname string) []string {
	if strings.EqualFold(hostname, "localhost") {
		return []string{"localhost"}
	}
	return []string{hostname, "localhost"}
}

// namesAll reports whether the certificate in certFile names hostname,
// localhost and the loopback addresses (false if it cannot be read).
func namesAll(certFile, hostname string) bool {
	b, err := os.ReadFile(certFile)
	if err != nil {
		return false
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return false
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return false
	}
	for _, name := range append(dnsNames(hostname), "127.0.0.1", "::1") {
		if c.VerifyHostname(name) != nil {
			return false
		}
	}
	return true
}
