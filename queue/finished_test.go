package queue

import (
	"mailgate/internal/mailmsg"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestFinishedRecords: the last record of an ID wins, a torn line left
// by a crash does not hide the next record, and files past the retention
// or the size cap are pruned.
func TestFinishedRecords(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	f, err := OpenFinished(dir, 24*time.Hour, 1<<20, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	id := mailmsg.NewID(now)
	rec := FinishedRecord{ID: id, Account: "a@x", Recipients: []FinishedRcpt{{Recipient: "r@y", State: StateDelivered, Reply: "250 ok"}}}
	if err := f.Append(rec); err != nil {
		t.Fatal(err)
	}
	f.Close()
	path, _ := f.fileOf(id)
	fh, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	fh.WriteString(`{"id":"` + id + `","acc`) // a crash mid-append
	fh.Close()
	f, _ = OpenFinished(dir, 24*time.Hour, 1<<20, func() time.Time { return now }) // the restart
	rec.Recipients[0].State = StateBounced
	if err := f.Append(rec); err != nil || f.Sync() != nil {
		t.Fatal(err)
	}
	got, ok := f.Get(id)
	if !ok || got.Recipients[0].State != StateBounced || got.Account != "a@x" {
		t.Fatalf("Get: %+v %v", got, ok)
	}
	if _, ok := f.Get(mailmsg.NewID(now.Add(-time.Hour))); ok {
		t.Error("an unknown ID was found")
	}
	old := filepath.Join(dir, "200001010000"+finishedSuffix)
	os.WriteFile(old, []byte("{}\n"), 0o600)
	os.Chtimes(old, now.Add(-48*time.Hour), now.Add(-48*time.Hour))
	big := filepath.Join(dir, "200001010001"+finishedSuffix)
	os.WriteFile(big, []byte(strings.Repeat("x", 2<<20)), 0o600)
	os.Chtimes(big, now.Add(-time.Hour), now.Add(-time.Hour))
	f.Prune()
	for _, p := range []string{old, big} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s was not pruned", filepath.Base(p))
		}
	}
	if _, ok := f.Get(id); !ok {
		t.Error("the current record was pruned")
	}
}
