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

// TestFinishedRecordsShareTheSpoolFlush: where the spool flushes with a
// syncfs, the finished records under it are made durable by that flush
// (the remover calls Flushed, not Sync); a directory on another file
// system is not covered, and Flushed still ends the batch (nothing left
// dirty, the record readable).
func TestFinishedRecordsShareTheSpoolFlush(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenSpool(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sub := filepath.Join(dir, finishedDir)
	if err := os.MkdirAll(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	if got, want := s.flushCovers(sub), s.fsDir != nil; got != want {
		t.Errorf("flushCovers(spool/finished) = %v, want %v (syncfs in use: %v)", got, want, want)
	}
	if s.flushCovers("/proc") {
		t.Error("flushCovers(/proc) = true: another file system is not flushed by the spool's syncfs")
	}
	now := time.Now()
	f, err := OpenFinished(sub, time.Hour, 1<<20, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	id := mailmsg.NewID(now)
	if err := f.Append(FinishedRecord{ID: id, Recipients: []FinishedRcpt{{Recipient: "r@y", State: StateDelivered}}}); err != nil {
		t.Fatal(err)
	}
	f.Flushed()
	if len(f.dirty) != 0 {
		t.Errorf("dirty after Flushed: %v", f.dirty)
	}
	if _, ok := f.Get(id); !ok {
		t.Error("the record is not readable after Flushed")
	}
}
