package imap

import (
	"context"
	"log/slog"
	"strings"
	"testing"
)

const badUTF7 = "NO [CANNOT] Mailbox name is not valid modified UTF-7 (RFC 3501 5.1.3): write '&' as '&-', " +
	"other non-ASCII characters in base64 between '&' and '-', and no control characters"

// TestClientMistakeReplies: arguments imapserver's decoder cannot parse
// used to get "NO [SERVERBUG] Internal server error" (issue 14 item 8).
// Each gets BAD or NO [CANNOT] saying what is wrong; the session goes
// on, except after a mistake inside a literal (imapserver would read the
// rest of that line as a command), which ends it with a BYE that says
// so; and none is logged as a server error.
func TestClientMistakeReplies(t *testing.T) {
	t.Parallel()
	logs := &lockedBuffer{}
	env := startServer(t, func(o *Options) {
		o.Logger = slog.New(slog.NewTextHandler(logs, nil))
		o.MaxUserIPConnections = 100 // one connection per case, all left open
	})
	env.store.Deliver(context.Background(), alice, "", []byte("Subject: x\r\n\r\nbody\r\n"), false)
	seqSet := func(v string) string {
		return `BAD [CLIENTBUG] Invalid sequence set (bad number set value "` + v + `"); message numbers and UIDs start at 1, use * for the last`
	}
	cases := []struct {
		cmd, want string
		bye       bool // the connection ends after the reply
	}{
		{cmd: "FETCH 0 FLAGS", want: seqSet("0")},
		{cmd: "FETCH 1:0 FLAGS", want: seqSet("1:0")},
		{cmd: "UID FETCH 0 (FLAGS)", want: seqSet("0")},
		{cmd: `STORE 0 +FLAGS (\Seen)`, want: seqSet("0")},
		{cmd: "COPY 0 INBOX", want: seqSet("0")},
		{cmd: "SEARCH FOOBAR", want: `BAD [CLIENTBUG] Unknown SEARCH key or invalid sequence set (bad number set value "FOOBAR"); message numbers and UIDs start at 1`},
		{cmd: "SEARCH UID 0", want: `BAD [CLIENTBUG] Unknown SEARCH key or invalid sequence set (bad number set value "0"); message numbers and UIDs start at 1`},
		{cmd: "SEARCH SINCE yesterday", want: `BAD [CLIENTBUG] SEARCH syntax error: SINCE needs a date such as 1-Feb-2024, not "yesterday"`},
		// Not mistakes: a set that matches no message copies nothing (the
		// empty COPYUID that imapserver cannot write answered SERVERBUG).
		{cmd: "COPY 5 INBOX", want: "OK COPY completed"},
		{cmd: "UID COPY 99 INBOX", want: "OK COPY completed"},
		{cmd: "MOVE 5 INBOX", want: "OK MOVE completed"},
		{cmd: "SELECT &AC8-etc", want: badUTF7},
		{cmd: "EXAMINE &Jjo", want: badUTF7},
		{cmd: "CREATE \"!#$&'+,-.0123456789:;<=>?@^_`|[}\"", want: badUTF7},
		{cmd: "DELETE &AC8-", want: badUTF7},
		{cmd: "RENAME INBOX &AC8-", want: badUTF7},
		{cmd: "STATUS &AC8- (MESSAGES)", want: badUTF7},
		// A LIST pattern no name can be written as matches nothing (as
		// Dovecot; imaptest's atoms group).
		{cmd: `LIST "" &AC8-`, want: "OK LIST completed"},
		{cmd: "LIST \"\" !#$&'+,-.0123456789:;<=>?@^_`|[}%*", want: "OK LIST completed"},
		{cmd: "SELECT !#$&'+,-.0123456789:;<=>?@^_`|[}", want: badUTF7},
		{cmd: "SUBSCRIBE &AC8-", want: badUTF7},
		{cmd: "APPEND &AC8- {13+}\r\nz2 DELETE Old", want: badUTF7, bye: true}, // the literal must not run
		{cmd: "CREATE {3+}\r\na\x00b", want: badUTF7, bye: true},
		{cmd: "CREATE {4+}\r\na\r\nb", want: badUTF7, bye: true},
		{cmd: "SELECT {4}\r\na\r\nb", want: badUTF7, bye: true},
	}
	for i, c := range cases {
		conn := dialRaw(t, env.tlsAddr, true)
		conn.line()
		conn.send("a LOGIN alice secret\r\nb SELECT INBOX\r\nc CREATE Old\r\n")
		conn.until("c ")
		tag := "t" + string(rune('a'+i))
		first, rest, sync := c.cmd, "", strings.Contains(c.cmd, "}\r\n") && !strings.Contains(c.cmd, "+}")
		if sync {
			first, rest, _ = strings.Cut(c.cmd, "\r\n")
		}
		conn.send(tag + " " + first + "\r\n")
		if sync {
			if l := conn.line(); !strings.HasPrefix(l, "+") {
				t.Fatalf("%s: %q, want a continuation", c.cmd, l)
			}
			conn.send(rest + "\r\n")
		}
		lines := conn.until(tag + " ")
		if got := lines[len(lines)-1]; got != tag+" "+c.want {
			t.Errorf("%q:\n got %q\nwant %q (lines %q)", c.cmd, got, tag+" "+c.want, lines)
		}
		conn.send("z NOOP\r\n")
		next := conn.line()
		switch {
		case c.bye && next != "* BYE "+literalRefused:
			t.Errorf("%q: after the reply %q, want BYE", c.cmd, next)
		case !c.bye && next != "z OK NOOP completed":
			t.Errorf("%q: the session did not go on: %q", c.cmd, next)
		}
	}
	if _, err := env.store.Messages(alice, "Old"); err != nil {
		t.Errorf("folder Old is gone: an APPEND literal ran as a command (%v)", err)
	}
	if l := logs.String(); strings.Contains(l, "level=ERROR") || strings.Contains(l, "SERVERBUG") || strings.Contains(l, "msg=imapserver") {
		t.Errorf("a client mistake was logged as a server error:\n%s", l)
	}
}
