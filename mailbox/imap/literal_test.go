package imap

import (
	"strings"
	"testing"
)

// TestOversizedLiteralClosesConnection sends, in one write, an APPEND
// whose non-synchronising literal is over the limit, followed by what
// would be the literal's bytes: commands that must never run.
func TestOversizedLiteralClosesConnection(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, payload string }{
		{"append nonsync", "a1 APPEND INBOX {104857601+}\r\na2 DELETE Archive\r\na3 CREATE Pwned\r\n"},
		{"append sync", "a1 APPEND INBOX {104857601}\r\na2 DELETE Archive\r\na3 CREATE Pwned\r\n"},
		{"select literal", "a1 SELECT {5000+}\r\na2 DELETE Archive\r\na3 CREATE Pwned\r\n"},
		{"leading zeros", "a1 SELECT {" + strings.Repeat("0", 200) + "5000+}\r\na2 DELETE Archive\r\na3 CREATE Pwned\r\n"},
		{"after a good literal", "a0 CREATE {3+}\r\nabc\r\na1 APPEND INBOX (\\Seen) {2000000+}\r\na2 DELETE Archive\r\na3 CREATE Pwned\r\n"},
	}
	hidden := "a1 APPEND INBOX {104857601+}\r\n"
	cases = append(cases, struct{ name, payload string }{"literal of a refused command",
		"a0 NOOP x {" + itoa(len(hidden)) + "+}\r\n" + hidden + "a2 DELETE Archive\r\na3 CREATE Pwned\r\n"})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := startServer(t, func(o *Options) { o.MaxLiteral = 1 << 20 })
			c := dialRaw(t, env.tlsAddr, true)
			c.line()
			c.send("a LOGIN alice secret\r\n")
			c.until("a ")
			c.send(tc.payload)
			out := c.rest()
			if !strings.Contains(out, "* BYE ") || !strings.Contains(out, "closing the connection") {
				t.Errorf("reply %q, want * BYE about the literal", out)
			}
			for _, tag := range []string{"a2 ", "a3 "} {
				if strings.Contains(out, tag) {
					t.Errorf("literal bytes ran as a command: %q", out)
				}
			}
			folders, _ := env.store.Folders(alice)
			names := ""
			for _, f := range folders {
				names += f.Name + " "
			}
			if !strings.Contains(names, "Archive") || strings.Contains(names, "Pwned") {
				t.Errorf("folders after the attempt: %s", names)
			}
		})
	}
}

// TestLiteralWithinLimitWorks checks that the guard lets normal literals,
// synchronising and not, pass and keeps its place in the stream.
func TestLiteralWithinLimitWorks(t *testing.T) {
	t.Parallel()
	env := startServer(t, nil)
	c := dialRaw(t, env.tlsAddr, true)
	c.line()
	c.send("a LOGIN {5}\r\n")
	if got := c.line(); !strings.HasPrefix(got, "+ ") {
		t.Fatalf("sync literal: %q, want a continuation", got)
	}
	c.send("alice {6+}\r\nsecret\r\n")
	c.until("a ")
	msg := "Subject: x\r\n\r\n{999999999+}\r\n"
	c.send("b APPEND INBOX {" + itoa(len(msg)) + "+}\r\n" + msg + "\r\n")
	if got := c.until("b "); !strings.HasPrefix(got[len(got)-1], "b OK [APPENDUID ") {
		t.Errorf("APPEND with a literal-looking body line: %q", got)
	}
	c.send("c NOOP {3}\r\n") // refused: no literal follows, the guard must not wait for one
	c.until("c ")
	c.send("d LOGOUT\r\n")
	if out := c.rest(); !strings.Contains(out, "d OK") {
		t.Errorf("after a refused sync literal: %q", out)
	}
}

func itoa(n int) string {
	s := ""
	for ; n > 0; n /= 10 {
		s = string(rune('0'+n%10)) + s
	}
	if s == "" {
		return "0"
	}
	return s
}
