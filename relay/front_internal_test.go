package relay

import (
	"testing"
)

// TestLineScanCut: the front stops a read at the end of a DATA command
// line, however the line is split across reads, and nowhere else.
func TestLineScanCut(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		reads []string
		want  []string // what each read returns, "|" where a DATA line ends
	}{
		{[]string{"DATA\r\n"}, []string{"DATA\r\n|"}},
		{[]string{"NOOP\r\ndata\r\nSubject: x\r\n"}, []string{"NOOP\r\ndata\r\n|"}},
		{[]string{"DA", "TA\r", "\nbody"}, []string{"DA", "TA\r", "\n|"}},
		{[]string{"MAIL FROM:<DATA@x>\r\n", "XDATA\r\n", "DAT\r\n"}, []string{"MAIL FROM:<DATA@x>\r\n", "XDATA\r\n", "DAT\r\n"}},
		{[]string{"RCPT TO:<a@b>\r\nDATA \r\n.\r\n"}, []string{"RCPT TO:<a@b>\r\nDATA \r\n|"}},
		{[]string{"\n\nDaTa\n"}, []string{"\n\nDaTa\n|"}},
	} {
		s := lineScan{start: true}
		for i, r := range tc.reads {
			n, data := s.cut([]byte(r))
			got := r[:n]
			if data {
				got += "|"
			}
			if got != tc.want[i] {
				t.Errorf("%q, read %d: returned %q, want %q", tc.reads, i, got, tc.want[i])
			}
		}
	}
}
