package imap

import (
	"strings"
	"testing"
)

// TestNotify: NOTIFY SET STATUS tells each watched mailbox's status at
// once; then, with no command from this client, another session's
// APPEND to Sent, CREATE, SUBSCRIBE and DELETE arrive as STATUS and LIST;
// NOTIFY NONE ends it; unserved events get BADEVENT and bad syntax BAD.
func TestNotify(t *testing.T) {
	t.Parallel()
	env := startServer(t, nil)
	a, b := loginRaw(t, env), loginRaw(t, env)
	a.expect("n0 NOTIFY SET (personal (AnnotationChange))\r\n",
		"n0 NO [BADEVENT (MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange)] AnnotationChange is not served")
	a.expect("n1 NOTIFY SET (personal (Bogus))\r\n",
		`n1 BAD NOTIFY: unknown event "Bogus"; use MessageNew, MessageExpunge, FlagChange, MailboxName or SubscriptionChange`)
	a.expect("n2 NOTIFY SET STATUS (mailboxes (Sent Drafts) (MessageNew MessageExpunge)) (personal (MailboxName SubscriptionChange))\r\n",
		`* STATUS "Drafts" (MESSAGES 0 UIDNEXT 1 UIDVALIDITY `+folderUIDValidity(t, env, "Drafts")+` UNSEEN 0)`,
		`* STATUS "Sent" (MESSAGES 0 UIDNEXT 1 UIDVALIDITY `+folderUIDValidity(t, env, "Sent")+` UNSEEN 0)`,
		"n2 OK NOTIFY completed")
	b.send("b1 APPEND Sent {12+}\r\nSubject: x\r\n\r\n")
	b.until("b1 OK")
	if l := a.line(); l != `* STATUS "Sent" (MESSAGES 1 UIDNEXT 2 UIDVALIDITY `+folderUIDValidity(t, env, "Sent")+` UNSEEN 1)` {
		t.Errorf("after APPEND elsewhere: %q", l)
	}
	b.has("b2 CREATE Projects\r\n", "b2 OK CREATE completed")
	if l := a.line(); l != `* LIST () "/" "Projects"` {
		t.Errorf("after CREATE elsewhere: %q", l)
	}
	b.has("b3 SUBSCRIBE Projects\r\n", "b3 OK SUBSCRIBE completed")
	if l := a.line(); l != `* LIST (\Subscribed) "/" "Projects"` {
		t.Errorf("after SUBSCRIBE elsewhere: %q", l)
	}
	b.has("b4 DELETE Projects\r\n", "b4 OK DELETE completed")
	if l := a.line(); l != `* LIST (\NonExistent) "/" "Projects"` {
		t.Errorf("after DELETE elsewhere: %q", l)
	}
	a.expect("n3 NOTIFY NONE\r\n", "n3 OK NOTIFY completed")
	b.has("b5 CREATE Later\r\n", "b5 OK CREATE completed")
	a.expect("n4 NOOP\r\n", "n4 OK NOOP completed")
}

func folderUIDValidity(t *testing.T, env *testEnv, folder string) string {
	t.Helper()
	st, err := env.store.Status(alice, folder)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(utoa(st.UIDValidity))
}
