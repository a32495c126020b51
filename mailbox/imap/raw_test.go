package imap

import (
	"context"
	"strings"
	"testing"
)

// TestRawReplies checks exact reply lines for commands imapclient does
// not cover or hides: LSUB, ESEARCH, SEARCHRES, CLOSE, RENAME INBOX, bad
// names on SELECT.
func TestRawReplies(t *testing.T) {
	t.Parallel()
	env := startServer(t, nil)
	for _, subj := range []string{"one", "two", "three"} {
		env.store.Deliver(context.Background(), alice, "", []byte("Subject: "+subj+"\r\n\r\nbody\r\n"), false)
	}
	c := dialRaw(t, env.tlsAddr, true)
	c.line()
	steps := []struct{ cmd, want string }{
		{"a LOGIN alice secret", "a OK"},
		{`b LSUB "" "S*"`, `* LSUB (\HasNoChildren \Subscribed \Sent) "/" "Sent"`},
		{`c SELECT "../../etc"`, `c NO [CANNOT] Mailbox name contains '.', which separates folders on disk`},
		{"d SELECT INBOX", "* 3 EXISTS"},
		{"e SEARCH RETURN (MIN MAX COUNT) ALL", "* ESEARCH (TAG \"e\") MIN 1 MAX 3 COUNT 3"},
		{"f UID SEARCH RETURN (SAVE) SUBJECT two", "f OK"},
		{"g UID FETCH $ (FLAGS)", "* 2 FETCH (UID 2 FLAGS (\\Recent))"},
		{`h STORE 1 +FLAGS.SILENT (\Deleted)`, "h OK"},
		{"i CLOSE", "i OK"},
		{"j STATUS INBOX (MESSAGES)", `* STATUS INBOX (MESSAGES 2)`},
		{"k RENAME INBOX Old", "k OK"},
		{"l STATUS Old (MESSAGES)", `* STATUS "Old" (MESSAGES 2)`},
		{"m STATUS INBOX (MESSAGES)", `* STATUS INBOX (MESSAGES 0)`},
		{"n BOGUS", "n BAD Unknown command"},
		{`o CREATE "a\\b"`, `o NO [CANNOT] Mailbox name contains '\'`},
		{"p SELECT /etc", "p NO [CANNOT] Mailbox name has an empty level"},
	}
	for _, s := range steps {
		c.send(s.cmd + "\r\n")
		tag := strings.Fields(s.cmd)[0] + " "
		lines := c.until(tag)
		found := false
		for _, l := range lines {
			if strings.HasPrefix(l, s.want) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s:\n%s\nwant a line starting %q", s.cmd, strings.Join(lines, "\n"), s.want)
		}
	}
}
