package relay

import (
	"strings"
	"testing"
)

func TestHasBareLineEnding(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]bool{
		"":                  false,
		"a\r\nb\r\n":        false,
		"\r\n":              false,
		"a\n":               true,
		"\n":                true,
		"a\r":               true,
		"\r\r\n":            true,
		"a\r\nb\rc\r\n":     true,
		"a\r\n\r":           true,
		"a\r\nb\nc\r\n":     true,
		"x\r\n.\r\ny\r\n\r": true,
	} {
		if got := hasBareLineEnding([]byte(in)); got != want {
			t.Errorf("hasBareLineEnding(%q) = %v, want %v", in, got, want)
		}
	}
}

// TestContentWithHeaders: the Received header and prepended fields go in
// front of the content, in place when they fit and the filters left the
// content as read, in a new slice otherwise; either way the bytes are
// the same.
func TestContentWithHeaders(t *testing.T) {
	t.Parallel()
	read := func() content {
		c, err := readContent(strings.NewReader(strings.Repeat("x", chunkSize+10)))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	head, prepend := []byte("Received: a\r\n"), []byte("DKIM-Signature: b\r\n")
	want := string(head) + string(prepend) + strings.Repeat("x", chunkSize+10)
	c := read()
	got := c.withHeaders(head, prepend, c.bytes())
	if string(got) != want || &got[len(got)-1] != &c.base[len(c.base)-1] {
		t.Errorf("in place: %d bytes, same array %v", len(got), &got[len(got)-1] == &c.base[len(c.base)-1])
	}
	c = read()
	big := []byte(strings.Repeat("p", headroom))
	if got := c.withHeaders(head, big, c.bytes()); string(got) != string(head)+string(big)+string(c.bytes()) {
		t.Errorf("too big for the headroom: wrong bytes")
	}
	c = read()
	other := []byte("replaced by a filter\r\n")
	if got := c.withHeaders(head, prepend, other); string(got) != string(head)+string(prepend)+string(other) {
		t.Errorf("replaced content: %q", got)
	}
}
