package mailbox

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestKeywordVocabularyNeverShrinks: a keyword stays in the folder's
// vocabulary after every message lost it or was expunged, across a
// restart and a compaction of the index.
func TestKeywordVocabularyNeverShrinks(t *testing.T) {
	t.Parallel()
	s := newTestStore(t, 0)
	mustDeliver(t, s, "", "Subject: a\r\n\r\na\r\n")
	if _, err := s.Append(acct, Inbox, stringsReader("Subject: b\r\n\r\nb\r\n"), []string{"$Appended"}, zeroTime); err != nil {
		t.Fatal(err)
	}
	s.SetFlags(acct, Inbox, []uint32{1}, FlagsAdd, []string{"$Label1", "$label1", "Work"})
	s.SetFlags(acct, Inbox, []uint32{1}, FlagsRemove, []string{"$Label1", "Work"})
	s.SetFlags(acct, Inbox, []uint32{2}, FlagsAdd, []string{`\Deleted`})
	s.Expunge(acct, Inbox, nil)
	want := []string{"$Appended", "$Label1", "Work"}
	snap, _ := s.Messages(acct, Inbox)
	if !reflect.DeepEqual(snap.Keywords, want) {
		t.Fatalf("Keywords = %v, want %v", snap.Keywords, want)
	}
	s2 := reopen(t, s)
	a, f, _ := s2.lockFolder(acct, Inbox)
	if !reflect.DeepEqual(f.vocab.words, want) {
		t.Errorf("after restart: %v, want %v", f.vocab.words, want)
	}
	if err := writeIndex(f.dir, f.uidValidity, f.uidNext, f.msgs, &f.ms, &f.vocab); err != nil {
		t.Fatal(err)
	}
	a.mu.Unlock()
	if snap, _ := reopen(t, s).Messages(acct, Inbox); !reflect.DeepEqual(snap.Keywords, want) {
		t.Errorf("after compaction and restart: %v, want %v", snap.Keywords, want)
	}
}

var zeroTime time.Time

func stringsReader(s string) *strings.Reader { return strings.NewReader(s) }
