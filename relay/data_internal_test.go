package relay

import (
	"io"
	"os"
	"strings"
	"testing"
	"testing/iotest"

	"mailgate/internal/smtpdata"
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
		if got := smtpdata.HasBareLineEnding([]byte(in)); got != want {
			t.Errorf("HasBareLineEnding(%q) = %v, want %v", in, got, want)
		}
		// The same verdict when the bytes arrive one read at a time.
		c, err := readContent(iotest.OneByteReader(strings.NewReader(in)), "")
		if err != nil || c.ends.bare != want {
			t.Errorf("readContent(%q) one byte at a time: bare %v, err %v; want %v", in, c.ends.bare, err, want)
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
		c, err := readContent(strings.NewReader(strings.Repeat("x", chunkSize+10)), "")
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

// TestContentSpills: past spillAt the content goes to a file that is
// already unlinked, only its first spillAt bytes stay in memory, and
// header plus body give back exactly the bytes read.
func TestContentSpills(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	msg := "Subject: big\r\n\r\n" + strings.Repeat("0123456789abcde\r\n", 3<<20/17) + "end\r\n"
	c, err := readContent(iotest.HalfReader(strings.NewReader(msg)), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	if c.file == nil || len(c.bytes()) != spillAt || c.size != int64(len(msg)) || c.ends.bare || c.ends.nul {
		t.Fatalf("file %v, %d bytes in memory, size %d, bare %v", c.file != nil, len(c.bytes()), c.size, c.ends.bare)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("the spill file has a name: %v", ents)
	}
	header, body, err := c.message()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(io.NewSectionReader(body, 0, body.Size()))
	if string(header) != "Subject: big\r\n\r\n" || string(header)+string(b) != msg {
		t.Errorf("header %q and %d body bytes do not give back the message", header, len(b))
	}
	// A header section that does not end within spillAt is refused.
	c2, err := readContent(strings.NewReader(strings.Repeat("X-Long: "+strings.Repeat("y", 990)+"\r\n", 2000)), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.close()
	if _, _, err := c2.message(); err != errHeaderTooLarge {
		t.Errorf("a 2 MB header section: %v", err)
	}
}
