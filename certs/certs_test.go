package certs

import (
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
	if got := m.Leaf().DNSNames; len(got) != 1 || got[0] != "mx.example.test" {
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
