package imap

import (
	"context"
	"slices"
	"strings"
	"testing"
)

// loginRaw opens a raw TLS session as alice.
func loginRaw(t *testing.T, env *testEnv) *rawConn {
	t.Helper()
	c := dialRaw(t, env.tlsAddr, true)
	c.line()
	c.send("a LOGIN alice secret\r\n")
	c.until("a ")
	return c
}

// has sends cmd and checks that each wanted line is among the replies
// up to cmd's tag, in any order.
func (c *rawConn) has(cmd string, want ...string) {
	c.t.Helper()
	c.send(cmd)
	got := c.until(strings.Fields(cmd)[0] + " ")
	for _, w := range want {
		if !slices.Contains(got, w) {
			c.t.Errorf("%q answered:\n%s\nwant a line %q", cmd, strings.Join(got, "\n"), w)
		}
	}
}

// TestRecent: \Recent (RFC 3501 §2.3.2) belongs to the first session that
// selects the folder read-write; EXAMINE and STATUS see it without taking
// it; a message arriving while a session has the folder selected is
// recent there; SEARCH RECENT, NEW and OLD follow it.
func TestRecent(t *testing.T) {
	t.Parallel()
	env := startServer(t, nil)
	for _, subj := range []string{"one", "two"} {
		env.store.Deliver(context.Background(), alice, "", []byte("Subject: "+subj+"\r\n\r\nbody\r\n"), false)
	}
	a, b := loginRaw(t, env), loginRaw(t, env)
	a.has("b EXAMINE INBOX\r\n", `* FLAGS (\Seen \Answered \Flagged \Deleted \Draft)`, "* 2 EXISTS", "* 2 RECENT",
		"b OK [READ-ONLY] EXAMINE completed")
	a.expect("c STATUS INBOX (RECENT)\r\n", "* STATUS INBOX (RECENT 2)", "c OK STATUS completed")
	a.has("d SELECT INBOX\r\n", `* FLAGS (\Seen \Answered \Flagged \Deleted \Draft)`, "* 2 EXISTS", "* 2 RECENT",
		`* OK [PERMANENTFLAGS (\Seen \Answered \Flagged \Deleted \Draft \*)] Permanent flags`, "d OK [READ-WRITE] SELECT completed")
	a.expect("e FETCH 1 (FLAGS)\r\n", `* 1 FETCH (UID 1 FLAGS (\Recent))`, "e OK FETCH completed")
	b.expect("f STATUS INBOX (RECENT)\r\n", "* STATUS INBOX (RECENT 0)", "f OK STATUS completed")
	a.expect("g STORE 1 +FLAGS (\\Seen)\r\n", `* 1 FETCH (UID 1 FLAGS (\Seen \Recent))`, "g OK STORE completed")
	a.expect("h SEARCH NEW\r\n", "* SEARCH 2", "h OK SEARCH completed")
	env.store.Deliver(context.Background(), alice, "", []byte("Subject: three\r\n\r\nbody\r\n"), false)
	a.expect("i NOOP\r\n", "* 3 EXISTS", "* 3 RECENT", "i OK NOOP completed")
	a.expect("j SEARCH RECENT\r\n", "* SEARCH 1 2 3", "j OK SEARCH completed")
	b.has("k SELECT INBOX\r\n", "* 0 RECENT", "k OK [READ-WRITE] SELECT completed")
	b.expect("l SEARCH OLD\r\n", "* SEARCH 1 2 3", "l OK SEARCH completed")
}

// TestKeywordsAnnounced: a keyword reaches a client in FLAGS before any
// FETCH shows it (RFC 9051 §7.3.5): SELECT lists the keywords present,
// a STORE that adds a new one is answered FLAGS first, and another
// session learns it the same way; in a read-write mailbox the new
// PERMANENTFLAGS follow each FLAGS (imaptest's keyword checks).
func TestKeywordsAnnounced(t *testing.T) {
	t.Parallel()
	env := startServer(t, nil)
	env.store.Deliver(context.Background(), alice, "", []byte("Subject: one\r\n\r\nbody\r\n"), false)
	a, b := loginRaw(t, env), loginRaw(t, env)
	a.has("b SELECT INBOX\r\n", "b OK [READ-WRITE] SELECT completed")
	b.has("c SELECT INBOX\r\n", "c OK [READ-WRITE] SELECT completed")
	a.expect("d STORE 1 +FLAGS ($Work)\r\n", `* FLAGS (\Seen \Answered \Flagged \Deleted \Draft $Work)`,
		`* OK [PERMANENTFLAGS (\Seen \Answered \Flagged \Deleted \Draft $Work \*)] Permanent flags`, `* 1 FETCH (UID 1 FLAGS ($Work \Recent))`, "d OK STORE completed")
	a.expect("e STORE 1 +FLAGS (\\Seen $work)\r\n", `* 1 FETCH (UID 1 FLAGS (\Seen $Work \Recent))`, "e OK STORE completed")
	b.expect("f NOOP\r\n", `* FLAGS (\Seen \Answered \Flagged \Deleted \Draft $Work)`,
		`* OK [PERMANENTFLAGS (\Seen \Answered \Flagged \Deleted \Draft $Work \*)] Permanent flags`,
		`* 1 FETCH (UID 1 FLAGS (\Seen $Work))`, "f OK NOOP completed")
	b.has("g EXAMINE INBOX\r\n", `* FLAGS (\Seen \Answered \Flagged \Deleted \Draft $Work)`, "g OK [READ-ONLY] EXAMINE completed")
	b.has("h SELECT INBOX\r\n", `* OK [PERMANENTFLAGS (\Seen \Answered \Flagged \Deleted \Draft $Work \*)] Permanent flags`)
}

// TestFetchUnknownKeyword: a FETCH FLAGS of a message that another
// session gave a new keyword gets a FLAGS announcing it first, then the
// message's response, in the same command (imapserver could only send
// the flags in a second response after the poll).
func TestFetchUnknownKeyword(t *testing.T) {
	t.Parallel()
	env := startServer(t, nil)
	env.store.Deliver(context.Background(), alice, "", []byte("Subject: one\r\n\r\nbody\r\n"), false)
	a, b := loginRaw(t, env), loginRaw(t, env)
	a.has("b SELECT INBOX\r\n", "b OK [READ-WRITE] SELECT completed")
	b.has("c SELECT INBOX\r\n", "c OK [READ-WRITE] SELECT completed")
	b.has("d STORE 1 +FLAGS.SILENT ($Later)\r\n", "d OK STORE completed")
	a.expect("e FETCH 1 (FLAGS RFC822.SIZE)\r\n", `* FLAGS (\Seen \Answered \Flagged \Deleted \Draft $Later)`,
		`* OK [PERMANENTFLAGS (\Seen \Answered \Flagged \Deleted \Draft $Later \*)] Permanent flags`,
		`* 1 FETCH (UID 1 FLAGS ($Later \Recent) RFC822.SIZE 22)`, "e OK FETCH completed")
	a.expect("f FETCH 1 (FLAGS)\r\n", `* 1 FETCH (UID 1 FLAGS ($Later \Recent))`, "f OK FETCH completed")
}
