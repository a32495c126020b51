package delivery

import (
	"bytes"
	"testing"
)

func TestNormalize(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":                  "\r\n",
		"a\r\nb\r\n":        "a\r\nb\r\n",
		"a\nb":              "a\r\nb\r\n",
		"a\rb\r":            "a\r\nb\r\n",
		"a\r\r\nb\r\n":      "a\r\n\r\nb\r\n",
		"a\r\n\x00.\r\n":    "a\r\n.\r\n",
		"\n.\n":             "\r\n.\r\n",
		"x\r\n.\x00\r\nend": "x\r\n.\r\nend\r\n",
	} {
		if got := string(normalize([]byte(in))); got != want {
			t.Errorf("normalize(%q) = %q, want %q", in, got, want)
		}
	}
}

func BenchmarkNormalize(b *testing.B) {
	clean := bytes.Repeat([]byte("a line of an ordinary message body, CRLF ended\r\n"), 20000)
	bare := bytes.ReplaceAll(clean, []byte("\r\n"), []byte("\n"))
	for _, bc := range []struct {
		name string
		body []byte
	}{{"crlf", clean}, {"bare-lf", bare}} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(bc.body)))
			for b.Loop() {
				normalize(bc.body)
			}
		})
	}
}
