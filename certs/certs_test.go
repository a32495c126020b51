package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestSelfSignedThenReloadOnChange(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	m, gen, err := SelfSigned(dir, "mx.example.test")
	if err != nil || !gen {
		t.Fatalf("SelfSigned = %v, generated=%v", err, gen)
	}
	if got := m.Leaf().DNSNames; len(got) != 2 || got[0] != "mx.example.test" || got[1] != "localhost" {
		t.Fatalf("DNSNames = %v", got)
	}
	if _, gen, _ := SelfSigned(dir, "mx.example.test"); gen {
		t.Fatal("second start generated a new certificate")
	}
	// A renewal: new files written in place.
	other := t.TempDir()
	generate(filepath.Join(other, "c"), filepath.Join(other, "k"), "renewed.example.test")
	for _, f := range [][2]string{{"c", "selfsigned.crt"}, {"k", "selfsigned.key"}} {
		data, _ := os.ReadFile(filepath.Join(other, f[0]))
		os.WriteFile(filepath.Join(dir, f[1]), data, 0o600)
		later := time.Now().Add(time.Minute)
		os.Chtimes(filepath.Join(dir, f[1]), later, later)
	}
	m.checked = time.Time{}
	if got := m.Leaf().DNSNames[0]; got != "renewed.example.test" {
		t.Fatalf("after renewal the certificate is for %q", got)
	}
	// A broken half-written file keeps the old certificate.
	os.WriteFile(filepath.Join(dir, "selfsigned.crt"), []byte("garbage"), 0o600)
	later := time.Now().Add(2 * time.Minute)
	os.Chtimes(filepath.Join(dir, "selfsigned.crt"), later, later)
	m.checked = time.Time{}
	if got := m.Leaf(); got == nil || got.DNSNames[0] != "renewed.example.test" {
		t.Fatalf("broken file replaced the working certificate")
	}
}

// TestSelfSignedNamesLoopback: the certificate verifies for the hostname,
// localhost, 127.0.0.1 and ::1; one made before it did is made again.
func TestSelfSignedNamesLoopback(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// A certificate as older versions made it: the hostname only.
	generateOld(t, dir, "mx.example.test")
	m, gen, err := SelfSigned(dir, "mx.example.test")
	if err != nil || !gen {
		t.Fatalf("an old certificate without loopback names was kept (generated=%v, %v)", gen, err)
	}
	for _, name := range []string{"mx.example.test", "localhost", "127.0.0.1", "::1"} {
		if err := m.Leaf().VerifyHostname(name); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	// ECDSA P-256: a submission over a new connection with a full
	// handshake costs less CPU than with RSA-2048 (relay
	// BenchmarkSubmission, BENCHMARKS.md).
	if k, ok := m.Leaf().PublicKey.(*ecdsa.PublicKey); !ok || k.Curve != elliptic.P256() {
		t.Errorf("generated key %T, want ECDSA P-256", m.Leaf().PublicKey)
	}
}

func generateOld(t *testing.T, dir, hostname string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), DNSNames: []string{hostname},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalPKCS8PrivateKey(key)
	os.WriteFile(filepath.Join(dir, "selfsigned.key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600)
	os.WriteFile(filepath.Join(dir, "selfsigned.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}
