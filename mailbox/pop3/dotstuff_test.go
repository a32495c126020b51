package pop3

import (
	"bufio"
	"strings"
	"testing"
)

func TestCopyDotStuffed(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 32<<10-1) // fills the reader's buffer with the CR
	tests := []struct {
		name, in  string
		bodyLines int
		want      string
	}{
		{"empty", "", -1, ".\r\n"},
		{"crlf kept", "A: b\r\n\r\nbody\r\n", -1, "A: b\r\n\r\nbody\r\n.\r\n"},
		{"bare LF", "A: b\n\nbody\n", -1, "A: b\r\n\r\nbody\r\n.\r\n"},
		{"no final line end", "A: b\r\n\r\nbody", -1, "A: b\r\n\r\nbody\r\n.\r\n"},
		{"dots", ".\r\n..\r\n.a\r\nb.\r\n", -1, "..\r\n...\r\n..a\r\nb.\r\n.\r\n"},
		{"dot in header", ".X: y\r\n\r\n", -1, "..X: y\r\n\r\n.\r\n"},
		{"bare CR kept", "a\rb\r\n", -1, "a\rb\r\n.\r\n"},
		{"top 0", "A: b\r\n\r\n1\r\n2\r\n", 0, "A: b\r\n\r\n.\r\n"},
		{"top 1", "A: b\r\n\r\n1\r\n.2\r\n", 1, "A: b\r\n\r\n1\r\n.\r\n"},
		{"top dot", "A: b\r\n\r\n.1\r\n2\r\n", 1, "A: b\r\n\r\n..1\r\n.\r\n"},
		{"top no body", "A: b\r\n", 3, "A: b\r\n.\r\n"},
		{"top counts LF lines", "A: b\n\n1\n2\n3\n", 2, "A: b\r\n\r\n1\r\n2\r\n.\r\n"},
		{"CRLF across buffer", long + "\r\n.x\r\n", -1, long + "\r\n..x\r\n.\r\n"},
		{"CR at buffer end", long + "\rz\r\n", -1, long + "\rz\r\n.\r\n"},
		{"CR at the very end", long + "\r", -1, long + "\r\r\n.\r\n"},
		{"long line, dot after", strings.Repeat("b", 70000) + "\r\n.\r\n", -1, strings.Repeat("b", 70000) + "\r\n..\r\n.\r\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out strings.Builder
			w := bufio.NewWriter(&out)
			n, err := copyDotStuffed(w, strings.NewReader(tc.in), tc.bodyLines)
			if err != nil {
				t.Fatal(err)
			}
			w.Flush()
			if out.String() != tc.want {
				t.Errorf("got %.80q…, want %.80q…", out.String(), tc.want)
			}
			if tc.bodyLines < 0 && n != int64(len(tc.in)) {
				t.Errorf("read %d octets, want %d", n, len(tc.in))
			}
		})
	}
}
