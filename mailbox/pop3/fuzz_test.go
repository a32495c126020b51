package pop3

import (
	"io"
	"strings"
	"testing"
	"time"
)

// FuzzCommands sends arbitrary command lines to a logged-in session over
// a real connection (the parser is the session itself) and checks what a
// client relies on: the server neither panics nor hangs, it ends the
// session on the QUIT that follows, it answers the first command with
// +OK or -ERR, and it leaks no password or file path in its replies.
func FuzzCommands(f *testing.F) {
	for _, s := range []string{
		"STAT", "LIST", "LIST 1", "LIST 0", "LIST -1", "LIST 99999999999999999999", "UIDL", "UIDL 2",
		"RETR 1", "TOP 1 0", "TOP 1 -5", "TOP 1 99999999999", "TOP", "DELE 1\r\nDELE 1", "RSET", "NOOP",
		"CAPA", "USER x", "PASS secret", "AUTH PLAIN", "AUTH PLAIN =", "STLS", "APOP a b",
		"list 1\r\nretr 2", "RETR 1 2 3", "RETR +1", "RETR 0x1", "\x00", "RETR\t1", " RETR 1", strings.Repeat("A", 300),
		"DELE 1\r\nRETR 1", "LIST 1\nLIST 2", "TOP 2 1\r\r\n",
	} {
		f.Add(s)
	}
	e := startServer(f, nil)
	e.store.deliver(f, "alice", "Subject: one\r\n\r\nbody\r\n.dot\r\n")
	e.store.deliver(f, "alice", "Subject: two\r\n\r\n")
	f.Fuzz(func(t *testing.T, input string) {
		c := e.login(t, "alice", "secret")
		c.conn.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c.conn, input+"\r\nQUIT\r\n"); err != nil {
			t.Fatalf("write: %v", err)
		}
		rest, err := io.ReadAll(c.r)
		if err != nil {
			t.Fatalf("session did not end after QUIT: %v (read %q)", err, rest)
		}
		out := string(rest)
		if !strings.HasPrefix(out, "+OK") && !strings.HasPrefix(out, "-ERR") {
			t.Errorf("first reply %.80q is neither +OK nor -ERR", out)
		}
		for _, leak := range []string{"secret", "/tmp", "goroutine", "panic"} {
			if strings.Contains(out, leak) && !strings.Contains(input, leak) {
				t.Errorf("reply leaks %q: %.300q", leak, out)
			}
		}
		if n := panics(t, e); n != 0 {
			t.Fatalf("%v session panics", n)
		}
	})
}

// panics reads mailgate_pop3_panics_total from the server's registry.
func panics(t *testing.T, e *env) float64 {
	t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "mailgate_pop3_panics_total" {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatal("mailgate_pop3_panics_total is not registered")
	return 0
}
