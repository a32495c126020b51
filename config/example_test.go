package config_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"mailgate/config"
	"mailgate/filters"
)

// The example names real certificate paths, which do not exist on a test
// machine. Both halves are checked: as written, the ONLY problems are those
// two unreadable files (so everything else in it is valid); and with the
// two paths swapped for files that exist, it loads cleanly. Swapping the
// text (rather than skipping the file check) keeps the example itself the
// thing under test.
const (
	exampleCert = "/etc/letsencrypt/live/mail.example.com/fullchain.pem"
	exampleKey  = "/etc/letsencrypt/live/mail.example.com/privkey.pem"
	exampleDKIM = "/etc/mailgate/dkim/example.com.mg202611.pem"
)

func readExample(t *testing.T) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "mailgate.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{exampleCert, exampleKey, exampleDKIM} {
		if !bytes.Contains(data, []byte(want)) {
			t.Fatalf("mailgate.example.yaml no longer names %s; update this test with it", want)
		}
	}
	return data
}

func TestExampleAsWritten(t *testing.T) {
	t.Parallel()
	_, err := config.Parse("mailgate.example.yaml", readExample(t), filters.Builtin())
	if err == nil {
		return // this machine has the certificate: fully valid
	}
	errs, ok := err.(*config.Errors)
	if !ok {
		t.Fatalf("Parse: %v", err)
	}
	for _, p := range errs.Problems {
		files := p.Path == "tls.cert_file" || p.Path == "tls.key_file" || p.Path == "filters.dkim_sign.keys[0].file"
		if !files || !strings.Contains(p.Msg, "no such file") {
			t.Errorf("unexpected problem in the example: %s", p)
		}
	}
}

func TestExampleWithCertificates(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "fullchain.pem"), filepath.Join(dir, "privkey.pem")
	for _, f := range []string{cert, key} {
		if err := os.WriteFile(f, []byte("placeholder: config checks only that the file is readable\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	dkimKey := writeDKIMKey(t, dir)
	data := bytes.ReplaceAll(readExample(t), []byte(exampleCert), []byte(cert))
	data = bytes.ReplaceAll(data, []byte(exampleDKIM), []byte(dkimKey))
	data = bytes.ReplaceAll(data, []byte(exampleKey), []byte(key))
	c, err := config.Parse("mailgate.example.yaml", data, filters.Builtin())
	if err != nil {
		t.Fatalf("mailgate.example.yaml is invalid:\n%v", err)
	}
	if c.Hostname != "mail.example.com" || c.TLS.CertFile != cert {
		t.Errorf("hostname %q, cert_file %q", c.Hostname, c.TLS.CertFile)
	}
	// The production ports the issue promises, each on every address.
	ports := map[string]string{
		"smtp": "[::]:25", "submission": "[::]:587", "submissions": "[::]:465",
		"imap": "[::]:143", "imaps": "[::]:993", "pop3": "[::]:110", "pop3s": "[::]:995",
	}
	for _, l := range c.Listeners {
		if want, ok := ports[l.Protocol]; ok {
			if l.Address != want {
				t.Errorf("%s listener at %s, want %s", l.Protocol, l.Address, want)
			}
			delete(ports, l.Protocol)
		}
	}
	for proto := range ports {
		t.Errorf("no %s listener in the example", proto)
	}
}

// TestExampleACME: the commented tls.acme block and https listener of the
// example, uncommented in place of the certificate files, are valid.
func TestExampleACME(t *testing.T) {
	t.Parallel()
	data := string(readExample(t))
	data = strings.Replace(data, "  cert_file: "+exampleCert+"\n  key_file: "+exampleKey+"\n", "", 1)
	for _, block := range []string{"  # acme:\n", "  # - name: https\n"} {
		i := strings.Index(data, block)
		if i < 0 {
			t.Fatalf("mailgate.example.yaml no longer has %q; update this test", block)
		}
		// Uncomment the block: its first line, then those indented
		// deeper ("  #   ").
		for end := i; end == i || strings.HasPrefix(data[end:], "  #   "); {
			nl := strings.IndexByte(data[end:], '\n')
			data = data[:end] + "  " + data[end+4:]
			end += nl - 1
		}
	}
	data = strings.ReplaceAll(data, exampleDKIM, writeDKIMKey(t, t.TempDir()))
	c, err := config.Parse("mailgate.example.yaml", []byte(data), filters.Builtin())
	if err != nil {
		t.Fatalf("the example with tls.acme is invalid:\n%v\n%s", err, data)
	}
	if a := c.TLS.ACME; a == nil || !a.AcceptTOS || len(a.NamesFor(c.Hostname)) != 2 {
		t.Errorf("tls.acme = %+v", a)
	}
	https := slices.ContainsFunc(c.Listeners, func(l config.Listener) bool {
		return l.Protocol == config.ProtoAPI && l.Address == "[::]:443"
	})
	if !https {
		t.Errorf("no api listener on [::]:443 in %+v", c.Listeners)
	}
}

// writeDKIMKey writes an Ed25519 key in dir, for the example's dkim_sign
// key file.
func writeDKIMKey(t *testing.T, dir string) string {
	t.Helper()
	f := filepath.Join(dir, "dkim.pem")
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(priv)
	if err := os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}
