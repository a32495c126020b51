package imap

import (
	"strings"
	"testing"
)

// TestMultiappend: MULTIAPPEND (RFC 3502) stores every message of one
// APPEND, answered with one APPENDUID range; when one message fails
// (here: over the quota) none of them stays.
func TestMultiappend(t *testing.T) {
	t.Parallel()
	env := startServer(t, nil)
	c := loginRaw(t, env)
	m1, m2 := "Subject: one\r\n\r\nbody1\r\n", "Subject: two\r\n\r\nbody2\r\n"
	c.send("b APPEND INBOX (\\Seen) {" + itoa(len(m1)) + "+}\r\n" + m1 + " {" + itoa(len(m2)) + "+}\r\n" + m2 + "\r\n")
	if got := c.until("b "); !strings.HasPrefix(got[len(got)-1], "b OK [APPENDUID ") || !strings.Contains(got[len(got)-1], " 1:2]") {
		t.Fatalf("MULTIAPPEND: %q", got)
	}
	env.store.SetQuota(alice, 200)
	big := "Subject: big\r\n\r\n" + strings.Repeat("x", 300) + "\r\n"
	c.send("c APPEND INBOX {" + itoa(len(m1)) + "+}\r\n" + m1 + " {" + itoa(len(big)) + "+}\r\n" + big + "\r\n")
	if got := c.until("c "); !strings.HasPrefix(got[len(got)-1], "c NO [OVERQUOTA]") {
		t.Fatalf("MULTIAPPEND over quota: %q", got)
	}
	c.has("d NOOP\r\n", "d OK NOOP completed")
	snap, err := env.store.Messages(alice, "INBOX")
	if err != nil || len(snap.Messages) != 2 {
		t.Fatalf("after a failed MULTIAPPEND the folder holds %d messages (%v), want the first 2 only", len(snap.Messages), err)
	}
}

// TestLiteral8AppendAndBinaryOrigin: a literal8 APPEND (RFC 3516) is
// stored as sent (bare LF kept, so BINARY.SIZE is the size sent), and
// a partial BINARY answer names its origin.
func TestLiteral8AppendAndBinaryOrigin(t *testing.T) {
	t.Parallel()
	env := startServer(t, nil)
	c := loginRaw(t, env)
	msg := "Subject: bin\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n\x00-\xe4\n\r\n\n"
	c.send("b APPEND INBOX ~{" + itoa(len(msg)) + "}\r\n")
	if l := c.line(); !strings.HasPrefix(l, "+") {
		t.Fatalf("literal8: %q, want a continuation", l)
	}
	c.send(msg + "\r\n")
	c.until("b ")
	c.has("c SELECT INBOX\r\n", "c OK [READ-WRITE] SELECT completed")
	c.has("d FETCH 1 (BINARY.SIZE[1])\r\n", "* 1 FETCH (UID 1 BINARY.SIZE[1] 7)")
	c.has("e FETCH 1 (BINARY.PEEK[1]<1.1>)\r\n", "* 1 FETCH (UID 1 BINARY[1]<1> ~{1}")
}

// TestEnvelopeSourceRoute: ENVELOPE keeps an address's source route
// (RFC 3501 §7.4.2 adl), which go-imap's types had no field for.
func TestEnvelopeSourceRoute(t *testing.T) {
	t.Parallel()
	env := startServer(t, nil)
	c := loginRaw(t, env)
	msg := "From: Real <@route1,@route2:user@domain>\r\nSubject: s\r\n\r\nbody\r\n"
	c.send("b APPEND INBOX {" + itoa(len(msg)) + "+}\r\n" + msg + "\r\n")
	c.until("b ")
	c.has("c SELECT INBOX\r\n", "c OK [READ-WRITE] SELECT completed")
	c.has("d FETCH 1 ENVELOPE\r\n", `* 1 FETCH (UID 1 ENVELOPE (NIL "s" (("Real" "@route1,@route2" "user" "domain")) `+
		`(("Real" "@route1,@route2" "user" "domain")) (("Real" "@route1,@route2" "user" "domain")) NIL NIL NIL NIL NIL))`)
}

// TestLsubAndListSubscribed: LSUB and LIST (SUBSCRIBED) answer apart,
// now that the layer knows which one ran: a subscribed name whose
// folder is gone is \NonExistent in LIST and plain in LSUB.
func TestLsubAndListSubscribed(t *testing.T) {
	t.Parallel()
	env := startServer(t, nil)
	c := loginRaw(t, env)
	c.has("b CREATE gone\r\n", "b OK CREATE completed")
	c.has("c SUBSCRIBE gone\r\n", "c OK SUBSCRIBE completed")
	c.has("d DELETE gone\r\n", "d OK DELETE completed")
	c.has("e LIST (SUBSCRIBED) \"\" gone\r\n", `* LIST (\Subscribed \NonExistent) "/" "gone"`)
	c.has("f LSUB \"\" gone\r\n", `* LSUB (\Subscribed) "/" "gone"`)
}
