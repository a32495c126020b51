package smtpdata

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
		if got := string(Normalize([]byte(in))); got != want {
			t.Errorf("Normalize(%q) = %q, want %q", in, got, want)
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
				Normalize(bc.body)
			}
		})
	}
}

func TestIsText(t *testing.T) {
	t.Parallel()
	cases := map[string]bool{
		"a\r\nb\r\n": true, "a\nb\r\n": false, "a\rb\r\n": false, "\r\n": true,
		"a\r\n": true, "a": false, "a\r\n\x00\r\n": false, "\n\r\n": false, "a\r\r\n": false,
	}
	for body, want := range cases {
		if got := IsText([]byte(body)); got != want {
			t.Errorf("IsText(%q) = %v, want %v", body, got, want)
		}
	}
}

// TestWriter: the streaming encoder gives the same bytes whether the
// content comes in one write or one byte per write (a CRLF, a dot or a
// bare CR split across writes).
func TestWriter(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":                  ".\r\n",
		"a":                 "a\r\n.\r\n",
		"a\nb\n":            "a\r\nb\r\n.\r\n",
		".\r\n..\n.a\r\n":   "..\r\n...\r\n..a\r\n.\r\n",
		"a\rb\r\n":          "a\rb\r\n.\r\n",
		"a\r":               "a\r\r\n.\r\n",
		"\r\n.":             "\r\n..\r\n.\r\n",
		"x.\r\ny\r\r\n.z":   "x.\r\ny\r\r\n..z\r\n.\r\n",
		"\n\n.\r\n.\r\nend": "\r\n\r\n..\r\n..\r\nend\r\n.\r\n",
	} {
		var whole, bytewise bytes.Buffer
		w := &Writer{W: &whole}
		w.Write([]byte(in))
		w.Close()
		b := &Writer{W: &bytewise}
		for i := range len(in) {
			b.Write([]byte{in[i]})
		}
		b.Close()
		if whole.String() != want || bytewise.String() != want {
			t.Errorf("Writer(%q) = %q, one byte at a time %q; want %q", in, whole.String(), bytewise.String(), want)
		}
	}
}

// TestStuffNeverCopies: Stuff hands out content's own bytes.
func TestStuffNeverCopies(t *testing.T) {
	t.Parallel()
	content := []byte("a\r\n.b\r\n")
	var pieces [][]byte
	Stuff(content, func(p []byte) error { pieces = append(pieces, p); return nil })
	if len(pieces) != 3 || &pieces[0][0] != &content[0] || string(pieces[1]) != "." || &pieces[2][0] != &content[3] {
		t.Errorf("pieces %q", pieces)
	}
}
