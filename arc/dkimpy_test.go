package arc

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// systemPython is Debian's interpreter, where python3-dkim is installed.
const systemPython = "/usr/bin/python3"

func needDkimpy(t *testing.T) {
	t.Helper()
	if err := exec.Command(systemPython, "-c", "import dkim, authres").Run(); err != nil {
		t.Skip("python3-dkim is not installed (apt-get install python3-dkim)")
	}
}

// testKey makes a 2048-bit key and its DKIM record.
func testKey(t *testing.T) (*rsa.PrivateKey, string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	return key, "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der)
}

func dkimpy(t *testing.T, msg []byte, args ...string) string {
	t.Helper()
	cmd := exec.Command(systemPython, append([]string{"testdata/dkimpy_arc.py"}, args...)...)
	cmd.Stdin = bytes.NewReader(msg)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("dkimpy %s: %v\n%s", args[0], err, errb.String())
	}
	t.Logf("dkimpy %s: %s", args[0], strings.TrimSpace(errb.String()))
	return string(out)
}

const plain = "From: Alice <alice@origin.example>\r\nTo: bob@fwd.example\r\n" +
	"Subject: hello\r\nDate: Sat, 05 Dec 2026 05:00:00 +0000\r\nMessage-ID: <1@origin.example>\r\n" +
	"Authentication-Results: mx.fwd.example; spf=pass smtp.mailfrom=alice@origin.example\r\n" +
	"\r\nHello,  world \r\n\r\n\r\n"

func sealer(key *rsa.PrivateKey) *Sealer {
	return &Sealer{Domain: "fwd.example", Selector: "sel", Key: key, AuthServID: "mx.fwd.example",
		Now: func() time.Time { return time.Unix(1796000000, 0) }}
}

func lookupOf(rec string) LookupTXT {
	return func(context.Context, string) ([]string, error) { return []string{rec}, nil }
}

// TestDkimpyVerifiesOurSeal: a set mailgate adds passes dkimpy's
// arc_verify, and a body changed after sealing fails there and here.
func TestDkimpyVerifiesOurSeal(t *testing.T) {
	needDkimpy(t)
	key, rec := testKey(t)
	set, err := sealer(key).Seal([]byte(plain), "spf=pass smtp.mailfrom=alice@origin.example", None)
	if err != nil {
		t.Fatal(err)
	}
	msg := append(set, plain...)
	if got := strings.TrimSpace(dkimpy(t, msg, "verify", rec)); got != "pass" {
		t.Fatalf("dkimpy says %q for\n%s", got, msg)
	}
	if r := Verify(context.Background(), msg, lookupOf(rec)); r.Status != Pass {
		t.Fatalf("Verify = %+v", r)
	}
	broken := bytes.Replace(msg, []byte("Hello"), []byte("Hullo"), 1)
	if got := strings.TrimSpace(dkimpy(t, broken, "verify", rec)); got != "fail" {
		t.Fatalf("dkimpy says %q for a changed body", got)
	}
	if r := Verify(context.Background(), broken, lookupOf(rec)); r.Status != Fail {
		t.Fatalf("Verify of a changed body = %+v", r)
	}
}

// TestChainWithDkimpy: dkimpy seals i=1, mailgate verifies it and adds
// i=2 with cv=pass, and dkimpy accepts the two-set chain.
func TestChainWithDkimpy(t *testing.T) {
	needDkimpy(t)
	key, rec := testKey(t)
	keyFile := filepath.Join(t.TempDir(), "key.pem")
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	if err := os.WriteFile(keyFile, pemKey, 0o600); err != nil {
		t.Fatal(err)
	}
	first := []byte(dkimpy(t, []byte(plain), "sign", keyFile, "mx.fwd.example"))
	r := Verify(context.Background(), first, lookupOf(rec))
	if r.Status != Pass || len(r.Sealers) != 1 || r.Sealers[0] != "first.example" {
		t.Fatalf("Verify of dkimpy's set = %+v\n%s", r, first)
	}
	set, err := sealer(key).Seal(first, "arc=pass", r.Status)
	if err != nil {
		t.Fatal(err)
	}
	second := append(set, first...)
	if !bytes.Contains(set, []byte("i=2; a=rsa-sha256; cv=pass")) {
		t.Fatalf("second set:\n%s", set)
	}
	if got := strings.TrimSpace(dkimpy(t, second, "verify", rec)); got != "pass" {
		t.Fatalf("dkimpy says %q for\n%s", got, second)
	}
	if r := Verify(context.Background(), second, lookupOf(rec)); r.Status != Pass || len(r.Sealers) != 2 {
		t.Fatalf("Verify = %+v", r)
	}
}
