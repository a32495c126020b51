package hops

import (
	"strings"
	"testing"
)

func TestCount(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, msg string
		want      int
	}{
		{"none", "From: a@b\r\n\r\nbody\r\n", 0},
		{"two", "Received: from a\r\n\tby b; date\r\nreceived: x\r\nFrom: a@b\r\n\r\n", 2},
		{"obsolete blank before colon", "Received : x\r\n\r\n", 1},
		{"other fields", "Received-SPF: pass\r\nX-Received: x\r\nReceivedx: y\r\n\r\n", 0},
		{"body not counted", "Received: x\r\n\r\nReceived: y\r\nReceived: z\r\n", 1},
		{"folded line starting with received", "Subject: a\r\n received: no\r\n\r\n", 0},
		{"header only, no blank line", "Received: x\r\nReceived: y", 2},
		{"LF line ends", "Received: x\nReceived: y\n\nReceived: z\n", 2},
	}
	for _, c := range cases {
		if got := Count([]byte(c.msg)); got != c.want {
			t.Errorf("%s: Count = %d, want %d", c.name, got, c.want)
		}
	}
	many := strings.Repeat("Received: from x by y; Thu, 1 Jan 2026 00:00:00 +0000\r\n", 60) + "\r\nbody\r\n"
	if got := Count([]byte(many)); got != 60 {
		t.Errorf("60 fields: Count = %d", got)
	}
}
