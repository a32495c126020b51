package mailbox

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// stage writes one draft of body into INBOX.
func stage(t *testing.T, s *Store, body string, limit int64) (*Staged, error) {
	t.Helper()
	d, err := s.NewDraft(acct, Inbox, limit, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Write([]byte(body)); err != nil {
		d.Discard()
		return nil, err
	}
	return d.Finish([]string{FlagSeen, "$Work"}, zeroTime)
}

// TestStagedBatchAllOrNone: staged messages are not in the folder until
// CommitStaged, which gives them consecutive UIDs at once; a batch over
// quota as a whole stores none and leaves nothing in tmp/; a draft past
// its limit is ErrTooBig.
func TestStagedBatchAllOrNone(t *testing.T) {
	t.Parallel()
	s := newTestStore(t, 300)
	var batch []*Staged
	for _, b := range []string{"Subject: 1\n\none\n", "Subject: 2\r\n\r\ntwo\r\n"} {
		st, err := stage(t, s, b, -1)
		if err != nil {
			t.Fatal(err)
		}
		batch = append(batch, st)
		if snap, _ := s.Messages(acct, Inbox); len(snap.Messages) != 0 {
			t.Fatalf("a staged message is visible before the commit: %+v", snap.Messages)
		}
	}
	res, err := s.CommitStaged(acct, Inbox, batch)
	if err != nil || len(res) != 2 || res[1].UID != res[0].UID+1 {
		t.Fatalf("CommitStaged = %+v, %v", res, err)
	}
	snap, _ := s.Messages(acct, Inbox)
	if len(snap.Messages) != 2 || snap.Messages[0].Size != int64(len("Subject: 1\r\n\r\none\r\n")) {
		t.Fatalf("after the commit: %+v", snap.Messages)
	}
	big := string(make([]byte, 150))
	batch = nil
	for range 2 {
		st, err := stage(t, s, big, -1)
		if err != nil {
			t.Fatal(err)
		}
		batch = append(batch, st)
	}
	if _, err := s.CommitStaged(acct, Inbox, batch); !errors.As(err, &QuotaError{}) {
		t.Fatalf("a batch over quota: %v", err)
	}
	if snap, _ := s.Messages(acct, Inbox); len(snap.Messages) != 2 {
		t.Errorf("a batch over quota stored some: %d messages", len(snap.Messages))
	}
	if left, _ := os.ReadDir(filepath.Join(s.dir, acct, "tmp")); len(left) != 0 {
		t.Errorf("files left in tmp/: %v", left)
	}
	if _, err := stage(t, s, big, 100); !errors.Is(err, ErrTooBig) {
		t.Errorf("a draft past its limit: %v, want ErrTooBig", err)
	}
}
