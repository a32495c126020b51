package pop3

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"mailgate/mailbox"
)

// testStore is a Store the tests can put mail in and look into.
type testStore interface {
	Store
	deliver(t testing.TB, account, msg string) uint32
	uids(t testing.TB, account string) []uint32
}

// realStore is the mailbox store itself, in a temporary directory, seen
// through the adapter the server uses in production.
type realStore struct {
	Store
	s   *mailbox.Store
	dir string
}

func newTestStore(t testing.TB) testStore {
	dir := t.TempDir()
	s, err := mailbox.New(mailbox.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return realStore{NewStore(s), s, dir}
}

// deliver puts msg in the account's INBOX as the delivery layer does and
// returns its UID.
func (r realStore) deliver(t testing.TB, account, msg string) uint32 {
	t.Helper()
	if err := r.s.Deliver(context.Background(), account, "", []byte(msg), false); err != nil {
		t.Fatal(err)
	}
	uids := r.uids(t, account)
	return uids[len(uids)-1]
}

func (r realStore) uids(t testing.TB, account string) []uint32 {
	t.Helper()
	snap, err := r.s.Messages(account, mailbox.Inbox)
	if err != nil {
		t.Fatal(err)
	}
	var out []uint32
	for _, m := range snap.Messages {
		out = append(out, m.UID)
	}
	return out
}

// UIDL shows the IMAP UIDs, and they survive a restart of the store.
func TestUIDLIsIMAPUIDAcrossRestart(t *testing.T) {
	t.Parallel()
	e, uids := withMail(t)
	want := fmt.Sprintf("+OK 2 messages (%d octets)\n1 %d\n2 %d\n.", len(msgA)+len(msgB), uids[0], uids[1])
	c := e.login(t, "alice", "secret")
	c.send("UIDL")
	c.expect(strings.Split(want, "\n")...)
	c.converse("C: QUIT\nS: +OK pop.test POP3 server signing off (0 messages deleted)")

	// A new store on the same directory, as after a restart.
	old := e.store.(realStore)
	s, err := mailbox.New(mailbox.Options{Dir: old.dir})
	if err != nil {
		t.Fatal(err)
	}
	e2 := startServer(t, func(o *Options) { o.Store = NewStore(s) })
	snap, err := s.Messages("alice", mailbox.Inbox)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Messages) != 2 || snap.Messages[0].UID != uids[0] || snap.Messages[1].UID != uids[1] {
		t.Fatalf("IMAP UIDs after restart: %+v, want %v", snap.Messages, uids)
	}
	c = e2.login(t, "alice", "secret")
	c.send("UIDL")
	c.expect(strings.Split(want, "\n")...)
}

// A message expunged over IMAP during a POP3 session keeps its number but
// cannot be retrieved; new mail waits for the next login (RFC 1939).
func TestConcurrentIMAPChanges(t *testing.T) {
	t.Parallel()
	e, uids := withMail(t)
	c := e.login(t, "alice", "secret")
	st := e.store.(realStore).s
	if _, err := st.ExpungeUIDs("alice", mailbox.Inbox, uids[:1]); err != nil {
		t.Fatal(err)
	}
	e.store.deliver(t, "alice", msgB)
	c.converse(fmt.Sprintf(`
		C: RETR 1
		S: -ERR message 1 was removed by another client
		C: STAT
		S: +OK 2 %d
		C: DELE 1
		S: +OK message 1 deleted
		C: DELE 2
		S: +OK message 2 deleted
		C: QUIT
		S: +OK pop.test POP3 server signing off (2 messages deleted)`, len(msgA)+len(msgB)))
	c = loginWhenFree(t, e)
	c.converse(fmt.Sprintf(`
		C: LIST
		S: +OK 1 messages (%d octets)
		S: 1 %d
		S: .`, len(msgB), len(msgB)))
}
