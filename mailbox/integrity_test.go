package mailbox

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func readMsg(t *testing.T, s *Store, folder string, uid uint32) (string, os.FileInfo) {
	t.Helper()
	f, _, err := s.OpenMessage(acct, folder, uid)
	if err != nil {
		t.Fatalf("OpenMessage(%s, %d): %v", folder, uid, err)
	}
	defer f.Close()
	b, _ := io.ReadAll(f)
	fi, _ := f.Stat()
	return string(b), fi
}

// A message open in one session keeps exactly its bytes when another
// session expunges it and new messages arrive, in this account and in
// another: an expunged file is unlinked, never emptied or handed to the
// next delivery (as the shared mail/.free pool of earlier versions did).
func TestExpungedMessageStaysReadableAndUnshared(t *testing.T) {
	t.Parallel()
	s := newTestStore(t, 0)
	const first = "Subject: first\r\n\r\nkeep me\r\n"
	a, err := s.Append(acct, Inbox, strings.NewReader(first), []string{FlagDeleted}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	open, _, err := s.OpenMessage(acct, Inbox, a.UID)
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	before, _ := open.Stat()
	if gone, err := s.Expunge(acct, Inbox, nil); err != nil || len(gone) != 1 {
		t.Fatalf("Expunge: %v %v", gone, err)
	}
	const other = "other@example.com"
	for i := 0; i < 20; i++ {
		msg := []byte(fmt.Sprintf("Subject: later %d\r\n\r\n%s\r\n", i, strings.Repeat("x", i*100)))
		if err := s.Deliver(context.Background(), acct, Inbox, msg, false); err != nil {
			t.Fatal(err)
		}
		if err := s.Deliver(context.Background(), other, Inbox, msg, false); err != nil {
			t.Fatal(err)
		}
	}
	if b, err := io.ReadAll(io.NewSectionReader(open, 0, 1<<20)); err != nil || string(b) != first {
		t.Errorf("the open expunged message now reads %q (%v), want %q", b, err, first)
	}
	snap, _ := s.Messages(acct, Inbox)
	for _, m := range snap.Messages {
		if _, fi := readMsg(t, s, Inbox, m.UID); os.SameFile(before, fi) {
			t.Errorf("UID %d was stored in the expunged message's file", m.UID)
		}
	}
	if _, err := os.Stat(filepath.Join(s.dir, ".free")); !os.IsNotExist(err) {
		t.Errorf("mail/.free exists (%v); nothing may be pooled", err)
	}
}

// A COPY shares the file through a hard link; expunging the original
// leaves the copy's bytes as they were.
func TestCopyKeepsContentAfterOriginalExpunged(t *testing.T) {
	t.Parallel()
	s := newTestStore(t, 0)
	const first = "Subject: first\r\n\r\nkeep me\r\n"
	a, err := s.Append(acct, Inbox, strings.NewReader(first), []string{FlagDeleted}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Copy(acct, Inbox, []uint32{a.UID}, "Archive"); err != nil {
		t.Fatal(err)
	}
	if gone, err := s.Expunge(acct, Inbox, nil); err != nil || len(gone) != 1 {
		t.Fatalf("Expunge: %v %v", gone, err)
	}
	if _, err := s.Append(acct, Inbox, strings.NewReader("Subject: second\r\n\r\nnew\r\n"), nil, time.Time{}); err != nil {
		t.Fatal(err)
	}
	snap, _ := s.Messages(acct, "Archive")
	if got, _ := readMsg(t, s, "Archive", snap.Messages[0].UID); got != first {
		t.Errorf("the copy in Archive holds %q after the original was expunged, want %q", got, first)
	}
}

// The emptied files an earlier version left in mail/.free are removed
// when the store opens; no message is ever made from them.
func TestOldFreePoolRemoved(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	free := filepath.Join(dir, ".free")
	if err := os.MkdirAll(free, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(free, "1-1.free"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Options{Dir: dir}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(free); !os.IsNotExist(err) {
		t.Errorf("mail/.free still exists after New: %v", err)
	}
}

// The header cache answers for a message, never for another one that
// took its place: a message delivered under the file name of an expunged
// one (as another Maildir program or a restored backup may do) gets its
// own headers.
func TestHeaderCacheNotFooledByReusedName(t *testing.T) {
	t.Parallel()
	s := newTestStore(t, 0)
	if err := s.Deliver(context.Background(), acct, Inbox, []byte("Subject: old\r\n\r\nx\r\n"), false); err != nil {
		t.Fatal(err)
	}
	snap, _ := s.Messages(acct, Inbox)
	uid := snap.Messages[0].UID
	if h, err := s.Header(acct, Inbox, uid); err != nil || !strings.Contains(string(h), "old") {
		t.Fatalf("Header: %q %v", h, err)
	}
	entries, _ := os.ReadDir(filepath.Join(s.dir, acct, "new"))
	name := entries[0].Name()
	if _, err := s.ExpungeUIDs(acct, Inbox, []uint32{uid}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.dir, acct, "new", name), []byte("Subject: new\r\n\r\ny\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Second)
	os.Chtimes(filepath.Join(s.dir, acct, "new"), later, later) // seen as another program's change
	snap, _ = s.Messages(acct, Inbox)
	if len(snap.Messages) != 1 || snap.Messages[0].UID == uid {
		t.Fatalf("after the external delivery: %+v", snap.Messages)
	}
	if h, err := s.Header(acct, Inbox, snap.Messages[0].UID); err != nil || !strings.Contains(string(h), "Subject: new") {
		t.Errorf("Header of the new message = %q %v, want its own", h, err)
	}
}
