package mailbox

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func newTestStore(t *testing.T, quota int64) *Store {
	t.Helper()
	s, err := New(Options{Dir: filepath.Join(t.TempDir(), "mail"), DefaultQuota: quota})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

const acct = "alice@example.com"

func mustDeliver(t *testing.T, s *Store, folder, body string) {
	t.Helper()
	if err := s.Deliver(context.Background(), acct, folder, []byte(body), false); err != nil {
		t.Fatal(err)
	}
}

func TestDeliverCreatesMaildirAndDefaultFolders(t *testing.T) {
	t.Parallel()
	s := newTestStore(t, 0)
	mustDeliver(t, s, "", "Subject: hi\nbare LF\r\n")
	entries, _ := os.ReadDir(filepath.Join(s.dir, acct, "new"))
	if len(entries) != 1 {
		t.Fatalf("new/ has %d files, want 1", len(entries))
	}
	data, _ := os.ReadFile(filepath.Join(s.dir, acct, "new", entries[0].Name()))
	if string(data) != "Subject: hi\r\nbare LF\r\n" {
		t.Errorf("stored %q, want CRLF line endings", data)
	}
	if !strings.Contains(entries[0].Name(), ",S=22") {
		t.Errorf("file name %q lacks ,S=22", entries[0].Name())
	}
	folders, err := s.Folders(acct)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range folders {
		got = append(got, f.Name+f.SpecialUse)
	}
	want := `INBOX Archive\Archive Drafts\Drafts Junk\Junk Sent\Sent Trash\Trash`
	if strings.Join(got, " ") != want {
		t.Errorf("folders = %q, want %q", strings.Join(got, " "), want)
	}
}

func TestUIDsStableAcrossRestartAndExternalChanges(t *testing.T) {
	t.Parallel()
	s := newTestStore(t, 0)
	for _, b := range []string{"a", "b", "c"} {
		mustDeliver(t, s, "", "Subject: "+b+"\r\n\r\n"+b+"\r\n")
	}
	snap1, _ := s.Messages(acct, "INBOX")
	if _, err := s.SetFlags(acct, "INBOX", []uint32{2}, FlagsAdd, []string{`\Seen`, "$Label1"}); err != nil {
		t.Fatal(err)
	}
	// Another Maildir tool: removes message 1, flags message 3, adds one.
	dir := filepath.Join(s.dir, acct)
	s2, _ := New(Options{Dir: s.dir})
	f, _, _ := s2.OpenMessage(acct, "INBOX", 1)
	f.Close()
	os.Remove(f.Name())
	f3, _, _ := s2.OpenMessage(acct, "INBOX", 3)
	f3.Close()
	base, _ := splitName(filepath.Base(f3.Name()))
	os.Rename(f3.Name(), filepath.Join(dir, "cur", base+":2,FS"))
	os.WriteFile(filepath.Join(dir, "new", "1700000000.external.host"), []byte("Subject: x\r\n\r\n"), 0o600)
	future := time.Now().Add(time.Second)
	os.Chtimes(filepath.Join(dir, "cur"), future, future)

	s3, _ := New(Options{Dir: s.dir})
	snap, err := s3.Messages(acct, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range snap.Messages {
		got = append(got, strings.Join(append([]string{string(rune('0' + m.UID))}, m.Flags...), ","))
	}
	want := `2,\Seen,$Label1 3,\Flagged,\Seen 4`
	if strings.Join(got, " ") != want {
		t.Errorf("after restart and external changes: %q, want %q", strings.Join(got, " "), want)
	}
	if snap.UIDValidity != snap1.UIDValidity || snap.UIDNext != 5 {
		t.Errorf("UIDVALIDITY %d (was %d), UIDNEXT %d (want 5)", snap.UIDValidity, snap1.UIDValidity, snap.UIDNext)
	}
}

func TestQuota(t *testing.T) {
	t.Parallel()
	s := newTestStore(t, 100)
	mustDeliver(t, s, "", strings.Repeat("x", 60))
	var qe QuotaError
	err := s.Deliver(context.Background(), acct, "", []byte(strings.Repeat("y", 60)), false)
	if !errors.As(err, &qe) || qe.Permanent {
		t.Fatalf("second message: %v, want a temporary QuotaError", err)
	}
	err = s.Deliver(context.Background(), acct, "", []byte(strings.Repeat("z", 101)), false)
	if !errors.As(err, &QuotaError{}) || !errors.As(err, &qe) || !qe.Permanent {
		t.Fatalf("huge message: %v, want a permanent QuotaError", err)
	}
	s.SetQuota(acct, 0)
	mustDeliver(t, s, "", strings.Repeat("y", 60))
}

func TestDeliverFolders(t *testing.T) {
	t.Parallel()
	s := newTestStore(t, 0)
	if err := s.CreateFolder(acct, "lists"); err != nil {
		t.Fatal(err)
	}
	mustDeliver(t, s, "lists", "a\r\n")
	mustDeliver(t, s, "nosuch", "b\r\n")
	mustDeliver(t, s, "../../etc", "c\r\n")
	if err := s.Deliver(context.Background(), acct, "lists", []byte("d\r\n"), true); err != nil {
		t.Fatal(err)
	}
	for folder, want := range map[string]int{"lists": 1, "INBOX": 2, "Junk": 1} {
		st, err := s.Status(acct, folder)
		if err != nil || int(st.Messages) != want {
			t.Errorf("%s: %d messages (%v), want %d", folder, st.Messages, err, want)
		}
	}
}

func TestFolderNames(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"", "../x", "/etc", "a/../../b", "a\x00b", "a..b", ".hidden", "a/", "a//b", "INBOX/x", "x*", "a\\b", strings.Repeat("x", 201)} {
		if _, err := CanonicalFolder(bad); !errors.Is(err, ErrBadFolderName) {
			t.Errorf("CanonicalFolder(%q) = %v, want ErrBadFolderName", bad, err)
		}
	}
	for in, want := range map[string]string{"inbox": "INBOX", "Archive/2024": "Archive/2024", "Caf\u00e9": "Caf\u00e9"} {
		if got, err := CanonicalFolder(in); got != want || err != nil {
			t.Errorf("CanonicalFolder(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	s := newTestStore(t, 0)
	if err := s.CreateFolder(acct, "../escape"); !errors.Is(err, ErrBadFolderName) {
		t.Errorf("CreateFolder(../escape) = %v", err)
	}
	if _, err := os.Stat(filepath.Join(s.dir, "escape")); err == nil {
		t.Error("a directory escaped the account")
	}
}

func TestCopyMoveExpungeRename(t *testing.T) {
	t.Parallel()
	s := newTestStore(t, 0)
	for i := 0; i < 3; i++ {
		mustDeliver(t, s, "", "m\r\n")
	}
	res, err := s.Copy(acct, "INBOX", []uint32{1, 2}, "Archive")
	if err != nil || len(res.Dest) != 2 || res.Dest[1] != 2 {
		t.Fatalf("Copy = %+v, %v", res, err)
	}
	res, err = s.Move(acct, "INBOX", []uint32{3}, "Archive")
	if err != nil || len(res.Dest) != 1 || res.Dest[0] != 3 {
		t.Fatalf("Move = %+v, %v", res, err)
	}
	s.SetFlags(acct, "INBOX", []uint32{1}, FlagsAdd, []string{`\Deleted`})
	gone, err := s.Expunge(acct, "INBOX", nil)
	if err != nil || len(gone) != 1 || gone[0] != 1 {
		t.Fatalf("Expunge = %v, %v", gone, err)
	}
	if err := s.RenameFolder(acct, "Archive", "Old/Archive"); err != nil {
		t.Fatal(err)
	}
	st, err := s.Status(acct, "Old/Archive")
	if err != nil || st.Messages != 3 {
		t.Fatalf("renamed folder: %+v, %v", st, err)
	}
	if err := s.DeleteFolder(acct, "INBOX"); !errors.Is(err, ErrInboxRefused) {
		t.Errorf("DeleteFolder(INBOX) = %v", err)
	}
	used, _, _ := s.Usage(acct)
	if used != 4*3 {
		t.Errorf("usage %d, want 12", used)
	}
}

// TestConcurrentUse runs deliveries, flag changes, expunges and reads on
// one account at once (run with -race); every delivered message must end
// up either expunged or present, with unique UIDs.
func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	s := newTestStore(t, 0)
	const n = 50
	done := make(chan error, 4)
	go func() {
		for i := 0; i < n; i++ {
			if err := s.Deliver(context.Background(), acct, "", []byte("Subject: c\r\n\r\nx\r\n"), false); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	go func() {
		for i := 0; i < n; i++ {
			snap, err := s.Messages(acct, "INBOX")
			if err != nil {
				done <- err
				return
			}
			for _, m := range snap.Messages {
				if f, _, err := s.OpenMessage(acct, "INBOX", m.UID); err == nil {
					f.Close()
				}
			}
		}
		done <- nil
	}()
	go func() {
		for i := 0; i < n; i++ {
			s.SetFlags(acct, "INBOX", []uint32{uint32(i), uint32(i + 1)}, FlagsAdd, []string{`\Deleted`})
		}
		done <- nil
	}()
	var expunged []uint32
	go func() {
		for i := 0; i < n; i++ {
			gone, err := s.Expunge(acct, "INBOX", nil)
			if err != nil {
				done <- err
				return
			}
			expunged = append(expunged, gone...)
		}
		done <- nil
	}()
	for i := 0; i < 4; i++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	snap, _ := s.Messages(acct, "INBOX")
	seen := map[uint32]bool{}
	for _, u := range expunged {
		seen[u] = true
	}
	for _, m := range snap.Messages {
		if seen[m.UID] {
			t.Errorf("UID %d both expunged and present", m.UID)
		}
		seen[m.UID] = true
	}
	if len(seen) != n {
		t.Errorf("%d messages accounted for, want %d", len(seen), n)
	}
	s2, _ := New(Options{Dir: s.dir})
	snap2, _ := s2.Messages(acct, "INBOX")
	if len(snap2.Messages) != len(snap.Messages) || snap2.UIDNext != n+1 {
		t.Errorf("after reopening: %d messages, UIDNEXT %d; want %d, %d", len(snap2.Messages), snap2.UIDNext, len(snap.Messages), n+1)
	}
}

func TestCorruptIndexMovedAside(t *testing.T) {
	t.Parallel()
	s := newTestStore(t, 0)
	mustDeliver(t, s, "", "a\r\n")
	mustDeliver(t, s, "", "b\r\n")
	old, _ := s.Messages(acct, "INBOX")
	idx := filepath.Join(s.dir, acct, indexName)
	os.WriteFile(idx, []byte("not an index\n"), 0o600)
	s2, _ := New(Options{Dir: s.dir, Now: func() time.Time { return time.Unix(int64(old.UIDValidity)+100, 0) }})
	snap, err := s2.Messages(acct, "INBOX")
	if err != nil || len(snap.Messages) != 2 {
		t.Fatalf("after a corrupt index: %+v, %v", snap, err)
	}
	if snap.UIDValidity == old.UIDValidity {
		t.Error("UIDVALIDITY unchanged although UIDs were renumbered")
	}
	if data, err := os.ReadFile(idx + ".broken"); err != nil || string(data) != "not an index\n" {
		t.Errorf("broken index not kept aside: %q, %v", data, err)
	}
	// A torn last line (crash mid-append) is not corruption.
	f, _ := os.OpenFile(idx, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString("+\t99\t2024")
	f.Close()
	s3, _ := New(Options{Dir: s.dir})
	snap3, err := s3.Messages(acct, "INBOX")
	if err != nil || snap3.UIDValidity != snap.UIDValidity || len(snap3.Messages) != 2 {
		t.Errorf("after a torn line: %+v, %v", snap3, err)
	}
}

func TestOldTmpFilesRemoved(t *testing.T) {
	t.Parallel()
	s := newTestStore(t, 0)
	mustDeliver(t, s, "", "a\r\n")
	tmp := filepath.Join(s.dir, acct, "tmp")
	old, fresh := filepath.Join(tmp, "old"), filepath.Join(tmp, "fresh")
	os.WriteFile(old, nil, 0o600)
	os.WriteFile(fresh, nil, 0o600)
	past := time.Now().Add(-37 * time.Hour)
	os.Chtimes(old, past, past)
	s2, _ := New(Options{Dir: s.dir})
	s2.Messages(acct, "INBOX")
	if _, err := os.Stat(old); err == nil {
		t.Error("a 37-hour-old tmp file was kept")
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Error("a fresh tmp file (a delivery in progress) was removed")
	}
}
