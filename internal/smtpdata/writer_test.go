package smtpdata

import (
	"bufio"
	"bytes"
	"io"
	"testing"
)

func TestAppendStuffed(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"", ".\r\n"},
		{"a", "a\r\n.\r\n"},
		{"a\r\n", "a\r\n.\r\n"},
		{".", "..\r\n.\r\n"},
		{".\r\n", "..\r\n.\r\n"},
		{"a\r\n.b\r\n..c\r\n", "a\r\n..b\r\n...c\r\n.\r\n"},
		{".a\r\n.\r\n.", "..a\r\n..\r\n..\r\n.\r\n"},
		{"a.\r\nb\n.c\r.d\r\n", "a.\r\nb\n.c\r.d\r\n.\r\n"}, // only CRLF starts a line
		{"\r\n\r\n.", "\r\n\r\n..\r\n.\r\n"},
	} {
		got := string(AppendStuffed([]byte("prefix:"), []byte(tc.in)))
		if got != "prefix:"+tc.want {
			t.Errorf("AppendStuffed(%q) = %q; want %q", tc.in, got, "prefix:"+tc.want)
		}
	}
}

// roundTrip stuffs content, reads it back with Reader, and checks that
// Reader stops right after the end line.
func roundTrip(t *testing.T, content []byte) {
	t.Helper()
	wire := AppendStuffed(nil, content)
	wire = append(wire, "QUIT\r\n"...)
	br := bufio.NewReaderSize(bytes.NewReader(wire), 16)
	got, err := io.ReadAll(&Reader{R: br})
	if err != nil {
		t.Fatalf("Reader on %q: %v", wire, err)
	}
	want := content
	if len(want) > 0 && !bytes.HasSuffix(want, []byte("\r\n")) {
		want = append(append([]byte(nil), want...), "\r\n"...)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("round trip of %q gave %q", want, got)
	}
	if rest, _ := io.ReadAll(br); string(rest) != "QUIT\r\n" {
		t.Fatalf("after the data the reader left %q; want the next command", rest)
	}
}

func TestStuffRoundTrip(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", ".", "..", "a", ".\r\n", "\r\n", "\r\n.\r\n", "x\r\n.\r\n.y", "a\r\n..\r\n...\r\n"} {
		roundTrip(t, []byte(s))
	}
}

// crlfOnly turns arbitrary bytes into content whose only line ends are
// CRLF, the content AppendStuffed and Reader agree on.
func crlfOnly(b []byte) []byte {
	b = bytes.ReplaceAll(b, []byte("\r"), nil)
	return bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n"))
}

func FuzzStuffRoundTrip(f *testing.F) {
	for _, s := range []string{"", ".", "a\n.b\n", ".\n.\n", "\n\n.", "x.y\n..\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		roundTrip(t, crlfOnly(b))
	})
}

func BenchmarkAppendStuffed(b *testing.B) {
	line := []byte("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 loadgen bench\r\n")
	content := bytes.Repeat(line, 100<<10/len(line))
	b.SetBytes(int64(len(content)))
	var dst []byte
	for b.Loop() {
		dst = AppendStuffed(dst[:0], content)
	}
}
