package mimetree

import (
	"bytes"
	"strings"
	"testing"
)

// check verifies what every consumer relies on: each part's offsets are
// in order and inside its parent's body, siblings do not overlap, and
// no part is opened below MaxDepth.
func check(t *testing.T, data []byte, p *Part, lo, hi, depth int) int {
	t.Helper()
	if !(lo <= p.Start && p.Start <= p.BodyStart && p.BodyStart <= p.End && p.End <= hi) {
		t.Fatalf("part at depth %d: start %d, body %d, end %d outside [%d, %d]", depth, p.Start, p.BodyStart, p.End, lo, hi)
	}
	if depth > MaxDepth && (p.Multipart() || p.Message != nil) {
		t.Fatalf("a part was opened at depth %d", depth)
	}
	if p.Multipart() && p.Message != nil {
		t.Fatalf("a part is both multipart and message")
	}
	if l := bytes.Count(p.Body(data), []byte("\n")); p.Lines() != l {
		t.Fatalf("part [%d %d %d]: Lines %d, the body has %d", p.Start, p.BodyStart, p.End, p.Lines(), l)
	}
	n := 1
	if p.Message != nil {
		n += check(t, data, p.Message, p.BodyStart, p.End, depth+1)
	}
	prev := p.BodyStart
	for _, c := range p.Children {
		n += check(t, data, c, prev, p.End, depth+1)
		prev = c.End
	}
	return n
}

func TestParseShapes(t *testing.T) {
	t.Parallel()
	for name, c := range map[string]struct {
		msg    string
		bodies []string // leaf bodies in order
	}{
		"no header end": {"Subject: x\r\n", []string{""}},
		"empty":         {"", []string{""}},
		"body only":     {"\r\nhello", []string{"hello"}},
		"not a header":  {"hello world\r\nmore", []string{"hello world\r\nmore"}},
		"parts": {"Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\n\r\none\r\n--a\r\n\r\ntwo\r\n--a--\r\n",
			[]string{"one", "two"}},
		"no close": {"Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\n\r\none\r\n--a\r\n\r\ntwo\r\n",
			[]string{"one", "two\r\n"}},
		"outer boundary ends inner part": {"Content-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\n" +
			"Content-Type: multipart/mixed; boundary=i\r\n\r\n--i\r\n\r\ninner\r\n--o\r\n\r\nnext\r\n--o--\r\n",
			[]string{"inner", "next"}},
		"same boundary nested": {"Content-Type: multipart/mixed; boundary=s\r\n\r\n--s\r\n" +
			"Content-Type: multipart/mixed; boundary=s\r\n\r\n--s\r\n\r\ndeep\r\n--s--\r\n--s--\r\n",
			[]string{"deep"}},
		"digest default": {"Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\nSubject: in\r\n\r\ntext\r\n--d--\r\n",
			[]string{"text"}},
		"no parts at all": {"Content-Type: multipart/mixed; boundary=z\r\n\r\njust text\r\n", []string{"just text\r\n"}},
	} {
		data := []byte(c.msg)
		root := Parse(data)
		check(t, data, root, 0, len(data), 0)
		var got []string
		var leaves func(p *Part)
		leaves = func(p *Part) {
			switch {
			case p.Message != nil:
				leaves(p.Message)
			case p.Multipart():
				for _, c := range p.Children {
					leaves(c)
				}
			default:
				got = append(got, string(p.Body(data)))
			}
		}
		leaves(root)
		if strings.Join(got, "|") != strings.Join(c.bodies, "|") {
			t.Errorf("%s: leaf bodies %q, want %q", name, got, c.bodies)
		}
	}
}

// FuzzParse: whatever the bytes, the tree's offsets nest, nothing is
// opened below MaxDepth, the parts stay near MaxParts, and a message
// that is its own part inside a multipart parses the same in there.
func FuzzParse(f *testing.F) {
	f.Add("Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\n\r\none\r\n--a--\r\n")
	f.Add("Content-Type: message/rfc822\r\n\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\n\r\nx\r\n--b--")
	f.Add("Content-Type: multipart/digest; boundary=d\n\n--d\n\nSubject: in\n\ntext\n--d--\n")
	f.Add(string(Nested(120, "needle")))
	f.Fuzz(func(t *testing.T, msg string) {
		data := []byte(msg)
		root := Parse(data)
		if n := check(t, data, root, 0, len(data), 0); n > MaxParts+MaxDepth {
			t.Fatalf("%d parts", n)
		}
		if bytes.Contains(data, []byte("--outer")) {
			return
		}
		wrapped := append([]byte("Content-Type: multipart/mixed; boundary=outer\r\n\r\n--outer\r\n"), data...)
		wrapped = append(wrapped, "\r\n--outer--\r\n"...)
		w := Parse(wrapped)
		if len(w.Children) != 1 {
			return // the message held a line that closes "outer" early
		}
		// A part without a body may take the line break before the
		// delimiter as its header's blank line.
		c := w.Children[0]
		if n := c.End - c.Start; (n < len(data) || n > len(data)+2) && !bytes.Contains(data, []byte("\n--")) {
			t.Fatalf("wrapped: the part is %d bytes, the message %d", n, len(data))
		}
	})
}
