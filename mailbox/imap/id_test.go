package imap

import (
	"strings"
	"testing"
)

// TestID: ID (RFC 2971) is answered before and after login, pipelined
// with other commands, and a malformed list gets a BAD that says what to
// write. Field limits are RFC 2971's: 30 pairs, names of 30 octets,
// values of 1024.
func TestID(t *testing.T) {
	t.Parallel()
	env := startServer(t, nil)
	c := dialRaw(t, env.tlsAddr, true)
	c.line()
	long := strings.Repeat("v", 1024)
	var pairs []string
	for i := 0; i < 30; i++ {
		pairs = append(pairs, `"`+strings.Repeat(string(rune('a'+i%26)), 29)+string(rune('0'+i/26))+`" "`+long+`"`)
	}
	steps := []struct{ cmd, want string }{
		{`a ID ("name" "Thunderbird" "version" "128.0")`, idServerReply + "\r\na OK ID completed"},
		{"b ID NIL", idServerReply + "\r\nb OK ID completed"},
		{"c ID (" + strings.Join(pairs, " ") + ")", idServerReply + "\r\nc OK ID completed"},
		{"d ID (" + strings.Join(pairs, " ") + ` "x" "y")`, "d BAD ID: at most 30 fields are allowed"},
		{`e ID ("name")`, `e BAD ID: field "name" has no value`},
		{`f ID ("` + strings.Repeat("n", 31) + `" NIL)`, `f BAD ID: "` + strings.Repeat("n", 30) + `..." is longer than 30 octets`},
		{"g ID", `g BAD ID: write ID NIL or ID ("name" "value" ...)`},
		{`h ID ("name" "x"`, "h BAD ID: fields are separated by spaces and the list ends with ')'"},
		{"i LOGIN alice secret", "i OK"},
		{`j ID ("name" {3+}` + "\r\nabc)", idServerReply + "\r\nj OK ID completed"},
	}
	for _, s := range steps {
		c.send(s.cmd + "\r\n")
		tag := strings.Fields(s.cmd)[0] + " "
		got := strings.Join(c.until(tag), "\r\n")
		if !strings.HasPrefix(got, s.want) {
			t.Errorf("%.80s:\n%s\nwant:\n%s", s.cmd, got, s.want)
		}
	}
	// Pipelined after a command imapserver answers: replies in order.
	c.send("k NOOP\r\nl ID NIL\r\n")
	got := strings.Join(c.until("l "), "\r\n")
	if want := "k OK NOOP completed\r\n" + idServerReply + "\r\nl OK ID completed"; got != want {
		t.Errorf("pipelined NOOP, ID:\n%s\nwant:\n%s", got, want)
	}
}
