package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestPairsOfferBoth: with an RSA and an ECDSA pair configured, a client
// that can use ECDSA gets it (the cheaper handshake), one that can only
// use RSA (TLS 1.2 with RSA suites only) gets RSA, whatever the order of
// the pairs; Leaf is the one that expires first.
func TestPairsOfferBoth(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	rsaPair := writePair(t, dir, "rsa", rsaKey(t), 48*time.Hour)
	ecPair := writePair(t, dir, "ec", ecKey(t), 24*time.Hour)
	pool := x509.NewCertPool()
	for _, p := range []Pair{rsaPair, ecPair} {
		b, _ := os.ReadFile(p.CertFile)
		pool.AppendCertsFromPEM(b)
	}
	modern := &tls.Config{RootCAs: pool, ServerName: "mx.example.test"}
	rsaOnly := &tls.Config{RootCAs: pool, ServerName: "mx.example.test", MaxVersion: tls.VersionTLS12,
		CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}}
	for _, order := range [][]Pair{{rsaPair, ecPair}, {ecPair, rsaPair}} {
		m, err := New(order[0].CertFile, order[0].KeyFile, order[1:]...)
		if err != nil {
			t.Fatal(err)
		}
		if got := handshakeKey(t, m, modern); got != "ecdsa" {
			t.Errorf("pairs %v: a modern client got %s, want ecdsa", order, got)
		}
		if got := handshakeKey(t, m, rsaOnly); got != "rsa" {
			t.Errorf("pairs %v: an RSA-only client got %s, want rsa", order, got)
		}
		if _, ok := m.Leaf().PublicKey.(*ecdsa.PublicKey); !ok {
			t.Errorf("pairs %v: Leaf is %T, want the ECDSA one (it expires first)", order, m.Leaf().PublicKey)
		}
	}
}

// handshakeKey runs a TLS handshake of client against m and names the
// key type of the certificate the client was given.
func handshakeKey(t *testing.T, m *Manager, client *tls.Config) string {
	t.Helper()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	srv := tls.Server(a, m.TLSConfig())
	go srv.Handshake()
	c := tls.Client(b, client)
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if err := c.Handshake(); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	switch c.ConnectionState().PeerCertificates[0].PublicKey.(type) {
	case *ecdsa.PublicKey:
		return "ecdsa"
	case *rsa.PublicKey:
		return "rsa"
	}
	return "other"
}

func rsaKey(t *testing.T) any {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func ecKey(t *testing.T) any {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// writePair writes a self-signed certificate for mx.example.test with
// key, valid for life, as name.crt and name.key in dir.
func writePair(t *testing.T, dir, name string, key any, life time.Duration) Pair {
	t.Helper()
	pub := key.(crypto.Signer).Public()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mx.example.test"},
		DNSNames: []string{"mx.example.test"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(life),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	p := Pair{filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")}
	os.WriteFile(p.KeyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600)
	os.WriteFile(p.CertFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	return p
}
