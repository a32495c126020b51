package mailbox

import (
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

// An expunged message's file is emptied and reused by the next APPEND
// (no new inode), and a COPY of it in another folder, which shares the
// file through a hard link, keeps its content.
func TestExpungedFilesAreReusedButCopiesKept(t *testing.T) {
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
	b, err := s.Append(acct, Inbox, strings.NewReader("Subject: second\r\n\r\nreused\r\n"), []string{FlagDeleted}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	_, secondFile := readMsg(t, s, Inbox, b.UID)
	if gone, err := s.Expunge(acct, Inbox, nil); err != nil || len(gone) != 2 {
		t.Fatalf("Expunge: %v %v", gone, err)
	}
	snap, _ := s.Messages(acct, "Archive")
	if got, _ := readMsg(t, s, "Archive", snap.Messages[0].UID); got != first {
		t.Errorf("the copy in Archive holds %q after the original was expunged, want %q", got, first)
	}
	c, err := s.Append(acct, Inbox, strings.NewReader("Subject: third\r\n\r\nnew\r\n"), nil, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	got, thirdFile := readMsg(t, s, Inbox, c.UID)
	if got != "Subject: third\r\n\r\nnew\r\n" {
		t.Errorf("new message reads %q", got)
	}
	if !os.SameFile(secondFile, thirdFile) {
		t.Error("APPEND after EXPUNGE created a new inode instead of reusing the expunged message's")
	}
	free, _ := os.ReadDir(filepath.Join(s.dir, ".free"))
	if len(free) != 0 {
		t.Errorf("%d files wait in .free, want 0 (one expunged file was linked, the other reused)", len(free))
	}
}
