package faults

import (
	"strings"
	"testing"
	"time"

	"mailgate/internal/mimetree"
)

// TestNestedMIMEOverMX is issue 14's attack on the real binary: messages
// nested 8,000 and 50,000 levels deep (565 KB and 3.7 MB) arrive on port
// 25 without login; the account's owner then fetches BODYSTRUCTURE and
// searches the text. Nesting is opened down to 100 levels (Dovecot's
// limit) and the rest is one opaque part, the same for BODYSTRUCTURE,
// BODY[part] and SEARCH; each answer comes at once (it took 12.7 s of
// CPU per FETCH at 8,000 levels, and over 300 s per SEARCH at 50,000).
func TestNestedMIMEOverMX(t *testing.T) {
	t.Parallel()
	srv := startIMAPPOP(t)
	depths := []int{8000, 50000}
	for _, depth := range depths {
		p := dialPlain(t, srv.Addr["smtp"])
		p.until("220 ")
		p.send("EHLO attacker.test\r\nMAIL FROM:<x@attacker.test>\r\nRCPT TO:<" + user + ">\r\nDATA\r\n")
		p.until("354")
		p.send(string(mimetree.Nested(depth, "needle")) + ".\r\n")
		if got := p.line(); !strings.HasPrefix(got, "250 ") {
			t.Fatalf("depth %d: DATA answered %q", depth, got)
		}
	}
	waitQueueEmptyLog(t, srv, len(depths))

	q := imapLogin(t, srv)
	q.send("s SELECT INBOX\r\n")
	q.until("s OK")
	start := time.Now()
	q.send("f FETCH 1:2 BODYSTRUCTURE\r\n")
	for _, l := range q.until("f ") {
		if !strings.HasPrefix(l, "* ") {
			if !strings.HasPrefix(l, "f OK") {
				t.Fatalf("FETCH BODYSTRUCTURE: %q", l)
			}
			continue
		}
		if n := strings.Count(l, `"mixed"`); n != 100 || strings.Count(l, `"application" "octet-stream"`) != 1 {
			t.Errorf("BODYSTRUCTURE opens %d multiparts (want 100, then one application/octet-stream): %.300s...", n, l)
		}
	}
	fetched := time.Since(start)

	path := strings.TrimSuffix(strings.Repeat("1.", 100), ".")
	q.send("b FETCH 2 BODY.PEEK[" + path + "]<0.8>\r\n")
	if got := strings.Join(q.until("b "), "\n"); !strings.Contains(got, "{8}\n--b100\n)") {
		t.Errorf("BODY[1.1...(100 levels)]<0.8> is not the start of the capped part:\n%s", got)
	}

	start = time.Now()
	for _, c := range []struct{ cmd, want string }{
		{"TEXT needle", "* SEARCH"},     // below the cap: opaque data, not text
		{"TEXT nested", "* SEARCH 1 2"}, // the Subject
		{"BODY absent", "* SEARCH"},
	} {
		q.send("t SEARCH " + c.cmd + "\r\n")
		lines := q.until("t ")
		if len(lines) != 2 || lines[0] != c.want || !strings.HasPrefix(lines[1], "t OK") {
			t.Errorf("SEARCH %s: %q, want %q", c.cmd, lines, c.want)
		}
	}
	searched := time.Since(start)
	if srv.Exited() || strings.Contains(srv.Logs(), "panic") {
		t.Fatalf("server crashed:\n%s", srv.Logs())
	}
	report(t, "nested MIME (%d KB at 8,000 levels, %d KB at 50,000): FETCH BODYSTRUCTURE of both %v; 3 SEARCHes over both %v",
		len(mimetree.Nested(depths[0], "needle"))>>10, len(mimetree.Nested(depths[1], "needle"))>>10,
		fetched.Round(time.Millisecond), searched.Round(time.Millisecond))
}

// TestIMAPClientMistakes: on the real binary, arguments imapserver's
// decoder refuses get BAD or NO [CANNOT] with a reason, not NO
// [SERVERBUG], and the server logs no error for them (issue 14 item 8;
// the exact lines are in mailbox/imap TestClientMistakeReplies).
func TestIMAPClientMistakes(t *testing.T) {
	t.Parallel()
	srv := startIMAPPOP(t)
	q := imapLogin(t, srv)
	q.send("s SELECT INBOX\r\n")
	q.until("s OK")
	for _, c := range []struct{ cmd, want string }{
		{"a FETCH 0 FLAGS", "a BAD [CLIENTBUG] Invalid sequence set"},
		{"b SEARCH FOOBAR", "b BAD [CLIENTBUG] Unknown SEARCH key"},
		{"c SELECT &AC8-etc", "c NO [CANNOT] Mailbox name is not valid modified UTF-7"},
		{"d CREATE \"!#$&'+,-.0123456789:;<=>?@^_`|[}\"", "d NO [CANNOT] Mailbox name is not valid modified UTF-7"},
		{"e CREATE {3+}\r\na\x00b", "e NO [CANNOT] Mailbox name is not valid modified UTF-7"},
	} {
		q.send(c.cmd + "\r\n")
		lines := q.until(c.want[:2])
		if got := lines[len(lines)-1]; !strings.HasPrefix(got, c.want) {
			t.Errorf("%q answered %q, want %q...", c.cmd, got, c.want)
		}
	}
	if l := q.line(); l != "* BYE A command carrying a literal was rejected; closing the connection to stay in step" {
		t.Errorf("after a refused name in a literal: %q, want BYE", l)
	}
	if logs := srv.Logs(); strings.Contains(logs, "level=ERROR") || strings.Contains(logs, "SERVERBUG") {
		t.Errorf("a client mistake was logged as a server error:\n%s", logs)
	}
}
