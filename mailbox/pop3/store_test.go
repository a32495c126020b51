package pop3

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mailgate/mailbox"
)

// testStore is a Store the tests can put mail in and look into.
type testStore interface {
	Store
	deliver(t testing.TB, account, msg string) uint32
	uids(t testing.TB, account string) []uint32
	uidls(t testing.TB, account string) []string
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

// uidls is what UIDL should show for the account's INBOX, oldest first.
func (r realStore) uidls(t testing.TB, account string) []string {
	t.Helper()
	snap, err := r.s.Messages(account, mailbox.Inbox)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range snap.Messages {
		out = append(out, uidl(m.Name))
	}
	return out
}

// UIDL values survive a restart of the store, as do the IMAP UIDs.
func TestUIDLStableAcrossRestart(t *testing.T) {
	t.Parallel()
	e, uids := withMail(t)
	ids := e.store.uidls(t, "alice")
	want := fmt.Sprintf("+OK 2 messages (%d octets)\n1 %s\n2 %s\n.", len(msgA)+len(msgB), ids[0], ids[1])
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

// UIDL values stay unique for the life of the mailbox even when INBOX
// gets a new UIDVALIDITY (its index found corrupt and rebuilt) and its
// UIDs start again at 1: a new message never gets the UIDL of one that a
// client already downloaded and left on the server, and the old messages
// keep theirs.
func TestUIDLUniqueAcrossNewUIDValidity(t *testing.T) {
	t.Parallel()
	e, _ := withMail(t)
	old := e.store.(realStore)
	before := old.uidls(t, "alice")
	c := e.login(t, "alice", "secret")
	c.converse("C: DELE 1\nS: +OK message 1 deleted\nC: QUIT\nS: +OK pop.test POP3 server signing off (1 messages deleted)")
	snap, _ := old.s.Messages("alice", mailbox.Inbox)
	index, err := os.OpenFile(filepath.Join(old.dir, "alice", "mailgate-index"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	index.WriteString("a record no version wrote\n")
	index.Close()
	s, err := mailbox.New(mailbox.Options{Dir: old.dir})
	if err != nil {
		t.Fatal(err)
	}
	r := realStore{NewStore(s), s, old.dir}
	uids := []uint32{r.deliver(t, "alice", msgA), r.deliver(t, "alice", msgB)}
	after, _ := s.Messages("alice", mailbox.Inbox)
	if after.UIDValidity == snap.UIDValidity || uids[0] > 2 {
		t.Fatalf("UIDVALIDITY %d -> %d, new UIDs %v: the index was not rebuilt", snap.UIDValidity, after.UIDValidity, uids)
	}
	e2 := startServer(t, func(o *Options) { o.Store = r })
	c = e2.login(t, "alice", "secret")
	c.send("UIDL")
	lines := []string{c.line()}
	for lines[len(lines)-1] != "." && len(lines) < 10 {
		lines = append(lines, c.line())
	}
	got := map[string]bool{}
	for _, l := range lines[1 : len(lines)-1] {
		_, id, _ := strings.Cut(l, " ")
		if got[id] {
			t.Errorf("UIDL %q given twice: %v", id, lines)
		}
		got[id] = true
	}
	if len(got) != 3 || !got[before[1]] {
		t.Errorf("UIDL after the new UIDVALIDITY: %v; want 3 distinct values including the kept message's %q", lines, before[1])
	}
	for _, id := range before[:1] {
		if got[id] {
			t.Errorf("the deleted message's UIDL %q came back for a new message", id)
		}
	}
}

// A UIDL is 1 to 70 characters from 0x21 to 0x7E (RFC 1939 §7), whatever
// name another Maildir program gave the file.
func TestUIDLFormat(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"1796408334.M862017P12345Q17.host,S=2160", strings.Repeat("h", 71), "with space", "ünï", ""} {
		id := uidl(name)
		if len(id) < 1 || len(id) > 70 || strings.IndexFunc(id, func(r rune) bool { return r < 0x21 || r > 0x7e }) >= 0 {
			t.Errorf("uidl(%q) = %q", name, id)
		}
	}
	if uidl("a b") == uidl("a c") {
		t.Error("two names gave one UIDL")
	}
}
