package mailbox

import (
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// reopen is a new Store over the same directory: what a restart sees.
func reopen(t *testing.T, s *Store) *Store {
	t.Helper()
	s2, err := New(Options{Dir: s.dir})
	if err != nil {
		t.Fatal(err)
	}
	return s2
}

func modseqOf(t *testing.T, s *Store, folder string, uid uint32) uint64 {
	t.Helper()
	infos, err := s.Infos(acct, folder, []uint32{uid})
	if err != nil || len(infos) != 1 {
		t.Fatalf("Infos(%d) = %v, %v", uid, infos, err)
	}
	return infos[0].ModSeq
}

func highest(t *testing.T, s *Store, folder string) uint64 {
	t.Helper()
	st, err := s.Status(acct, folder)
	if err != nil {
		t.Fatal(err)
	}
	return st.HighestModSeq
}

// TestModSeqRisesOnEveryChange: APPEND, delivery, a flag change, a
// keyword change, COPY, MOVE and expunge each take a new MODSEQ, a STORE
// that changes nothing takes none, and the message's MODSEQ equals the
// folder's HIGHESTMODSEQ right after its change.
func TestModSeqRisesOnEveryChange(t *testing.T) {
	t.Parallel()
	s := newTestStore(t, 0)
	mustDeliver(t, s, "", "Subject: a\r\n\r\na\r\n")
	mustDeliver(t, s, "", "Subject: b\r\n\r\nb\r\n")
	h0 := highest(t, s, Inbox)
	if m1, m2 := modseqOf(t, s, Inbox, 1), modseqOf(t, s, Inbox, 2); m1 == 0 || m2 <= m1 || h0 != m2 {
		t.Fatalf("after two deliveries: modseqs %d %d, highest %d", m1, m2, h0)
	}
	steps := []struct {
		name string
		do   func() error
	}{
		{"flag", func() error { _, err := s.SetFlags(acct, Inbox, []uint32{1}, FlagsAdd, []string{FlagSeen}); return err }},
		{"keyword", func() error { _, err := s.SetFlags(acct, Inbox, []uint32{1}, FlagsAdd, []string{"$Work"}); return err }},
		{"remove", func() error {
			_, err := s.SetFlags(acct, Inbox, []uint32{1}, FlagsRemove, []string{FlagSeen, "$work"})
			return err
		}},
	}
	for _, st := range steps {
		before := highest(t, s, Inbox)
		if err := st.do(); err != nil {
			t.Fatal(st.name, err)
		}
		if h, m := highest(t, s, Inbox), modseqOf(t, s, Inbox, 1); h <= before || m != h {
			t.Errorf("%s: highest %d -> %d, message modseq %d", st.name, before, h, m)
		}
	}
	before := highest(t, s, Inbox)
	if _, err := s.SetFlags(acct, Inbox, []uint32{1, 2}, FlagsRemove, []string{FlagFlagged}); err != nil {
		t.Fatal(err)
	}
	if h := highest(t, s, Inbox); h != before {
		t.Errorf("a STORE that changed nothing raised HIGHESTMODSEQ %d -> %d", before, h)
	}
	trash := highest(t, s, "Trash")
	if _, err := s.Copy(acct, Inbox, []uint32{2}, "Trash"); err != nil {
		t.Fatal(err)
	}
	if h := highest(t, s, "Trash"); h <= trash || modseqOf(t, s, "Trash", 1) != h {
		t.Errorf("COPY: Trash highest %d -> %d", trash, h)
	}
	if _, err := s.Move(acct, Inbox, []uint32{2}, "Archive"); err != nil {
		t.Fatal(err)
	}
	if h := highest(t, s, Inbox); h <= before {
		t.Errorf("MOVE did not raise the source's HIGHESTMODSEQ")
	}
	if got, _ := s.ExpungedSince(acct, Inbox, before); !reflect.DeepEqual(got, []UIDRange{{2, 2}}) {
		t.Errorf("ExpungedSince after MOVE = %v, want [{2 2}]", got)
	}
}

// TestUnchangedSince: a message changed after the client's MODSEQ is
// refused and named; the others are changed.
func TestUnchangedSince(t *testing.T) {
	t.Parallel()
	s := newTestStore(t, 0)
	for range 3 {
		mustDeliver(t, s, "", "Subject: x\r\n\r\nx\r\n")
	}
	seen := highest(t, s, Inbox)
	if _, err := s.SetFlags(acct, Inbox, []uint32{2}, FlagsAdd, []string{FlagFlagged}); err != nil {
		t.Fatal(err)
	}
	changed, failed, err := s.SetFlagsUnchangedSince(acct, Inbox, []uint32{1, 2, 3, 9}, FlagsAdd, []string{FlagSeen}, seen)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(failed, []uint32{2}) || len(changed) != 2 || changed[0].UID != 1 || changed[1].UID != 3 {
		t.Fatalf("failed %v, changed %+v", failed, changed)
	}
	if !hasFlag(changed[0].Flags, FlagSeen) || changed[0].ModSeq <= seen {
		t.Errorf("message 1 = %+v", changed[0])
	}
	infos, _ := s.Infos(acct, Inbox, []uint32{2})
	if hasFlag(infos[0].Flags, FlagSeen) {
		t.Errorf("message 2 was changed although modified since: %v", infos[0].Flags)
	}
	if ch, _ := s.ChangedSince(acct, Inbox, seen); len(ch) != 3 {
		t.Errorf("ChangedSince(%d) = %+v, want UIDs 1 2 3", seen, ch)
	}
	if ch, _ := s.ChangedSince(acct, Inbox, highest(t, s, Inbox)); len(ch) != 0 {
		t.Errorf("ChangedSince(HIGHESTMODSEQ) = %+v, want none", ch)
	}
	_, failed, _ = s.SetFlagsUnchangedSince(acct, Inbox, []uint32{1}, FlagsAdd, []string{FlagSeen}, 0)
	if !reflect.DeepEqual(failed, []uint32{1}) {
		t.Errorf("UNCHANGEDSINCE 0 failed %v, want [1] (RFC 7162 §3.1.3)", failed)
	}
}

func hasFlag(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// TestModSeqDurable: MODSEQs, HIGHESTMODSEQ and the expunge log survive
// a restart, also after the index is compacted; a flag change by another
// program while mailgate was down is seen as a change at the next start.
func TestModSeqDurable(t *testing.T) {
	t.Parallel()
	s := newTestStore(t, 0)
	for range 4 {
		mustDeliver(t, s, "", "Subject: x\r\n\r\nx\r\n")
	}
	mark := highest(t, s, Inbox)
	s.SetFlags(acct, Inbox, []uint32{1, 3}, FlagsAdd, []string{FlagDeleted})
	s.SetFlags(acct, Inbox, []uint32{4}, FlagsAdd, []string{"$Later"})
	if _, err := s.Expunge(acct, Inbox, nil); err != nil {
		t.Fatal(err)
	}
	want, _ := s.Messages(acct, Inbox)
	for i := range want.Messages { // the index keeps INTERNALDATE to the second
		want.Messages[i].InternalDate = want.Messages[i].InternalDate.Truncate(time.Second).UTC()
	}
	for round := range 2 {
		s2 := reopen(t, s)
		got, err := s2.Messages(acct, Inbox)
		if err != nil {
			t.Fatal(err)
		}
		for i := range got.Messages {
			got.Messages[i].InternalDate = got.Messages[i].InternalDate.UTC()
		}
		if got.HighestModSeq < want.HighestModSeq || !reflect.DeepEqual(got.Messages, want.Messages) {
			t.Fatalf("round %d: after restart %d %+v, want %d %+v", round, got.HighestModSeq, got.Messages,
				want.HighestModSeq, want.Messages)
		}
		if v, _ := s2.ExpungedSince(acct, Inbox, mark); !reflect.DeepEqual(v, []UIDRange{{1, 1}, {3, 3}}) {
			t.Errorf("round %d: ExpungedSince = %v", round, v)
		}
		// Compact the index by hand and go round again.
		a, f, _ := s2.lockFolder(acct, Inbox)
		if err := writeIndex(f.dir, f.uidValidity, f.uidNext, f.msgs, &f.ms, &f.vocab); err != nil {
			t.Fatal(err)
		}
		a.mu.Unlock()
	}
	// Another program marks message 2 seen while mailgate is down.
	dir := filepath.Join(s.dir, acct)
	entries, _ := os.ReadDir(filepath.Join(dir, "cur"))
	entries2, _ := os.ReadDir(filepath.Join(dir, "new"))
	var name, sub string
	for _, e := range append(entries, entries2...) {
		if m := want.Messages[0]; strings.HasPrefix(e.Name(), m.Name) {
			name = e.Name()
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "cur", name)); err == nil {
		sub = "cur"
	} else {
		sub = "new"
	}
	base, _, _ := strings.Cut(name, ":2,")
	if err := os.Rename(filepath.Join(dir, sub, name), filepath.Join(dir, "cur", base+":2,S")); err != nil {
		t.Fatal(err)
	}
	s3 := reopen(t, s)
	if h, m := highest(t, s3, Inbox), modseqOf(t, s3, Inbox, 2); h <= want.HighestModSeq || m != h {
		t.Errorf("external flag change while down: highest %d (was %d), message %d", h, want.HighestModSeq, m)
	}
	// And while running.
	before := highest(t, s3, Inbox)
	os.Rename(filepath.Join(dir, "cur", base+":2,S"), filepath.Join(dir, "cur", base+":2,FS"))
	if h := highest(t, s3, Inbox); h <= before || modseqOf(t, s3, Inbox, 2) != h {
		t.Errorf("external flag change while running: highest %d -> %d", before, h)
	}
}

// TestExpungeLogBounded: past maxExpungeLog entries the oldest are
// forgotten, and a question below the low-water mark is answered with
// every absent UID.
func TestExpungeLogBounded(t *testing.T) {
	t.Parallel()
	var m modseqs
	for uid := uint32(1); uid <= maxExpungeLog+10; uid++ {
		m.logExpunge(uid, m.next())
	}
	if len(m.expunged) != maxExpungeLog || m.lowWater != 11 || m.expunged[0].uid != 11 { // MODSEQs start at 2
		t.Fatalf("log %d entries, low water %d, first %+v", len(m.expunged), m.lowWater, m.expunged[0])
	}
	f := &folder{uidNext: 20, msgs: []*message{{uid: 3}, {uid: 4}, {uid: 10}}, ms: modseqs{lowWater: 5}}
	got := absentUIDs(f)
	if want := []UIDRange{{1, 2}, {5, 9}, {11, 19}}; !reflect.DeepEqual(got, want) {
		t.Errorf("absentUIDs = %v, want %v", got, want)
	}
	if got := toRanges([]uint32{1, 2, 3, 5, 7, 8}); !reflect.DeepEqual(got, []UIDRange{{1, 3}, {5, 5}, {7, 8}}) {
		t.Errorf("toRanges = %v", got)
	}
}

// TestLegacyIndexUpgraded: an index written before MODSEQs existed is
// read (MODSEQ 1, expunges unknown) and rewritten.
func TestLegacyIndexUpgraded(t *testing.T) {
	t.Parallel()
	s := newTestStore(t, 0)
	mustDeliver(t, s, "", "Subject: x\r\n\r\nx\r\n")
	mustDeliver(t, s, "", "Subject: y\r\n\r\ny\r\n")
	snap, _ := s.Messages(acct, Inbox)
	dir := filepath.Join(s.dir, acct)
	legacy := "mailgate-index\t1\t" + strconv.FormatUint(uint64(snap.UIDValidity), 10) + "\nn\t1\n" +
		"+\t1\t2026-01-02T03:04:05Z\t18\t" + snap.Messages[0].Name + "\t$A\n" +
		"+\t2\t2026-01-02T03:04:05Z\t18\t" + snap.Messages[1].Name + "\t\n" +
		"+\t5\t2026-01-02T03:04:05Z\t18\tgone\t\n-\t5\nk\t2\t$B\n"
	if err := os.WriteFile(filepath.Join(dir, indexName), []byte(legacy), 0o600); err != nil {
		t.Fatal(err)
	}
	s2 := reopen(t, s)
	got, err := s2.Messages(acct, Inbox)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Messages) != 2 || got.Messages[0].ModSeq != 1 || got.Messages[1].ModSeq != 1 || got.HighestModSeq != 1 {
		t.Fatalf("legacy index read as %+v", got)
	}
	if !hasFlag(got.Messages[1].Flags, "$B") || got.UIDNext != 6 {
		t.Errorf("keywords or UIDNEXT lost: %+v", got)
	}
	if v, _ := s2.ExpungedSince(acct, Inbox, 0); !reflect.DeepEqual(v, []UIDRange{{3, 5}}) {
		t.Errorf("ExpungedSince(0) on an upgraded index = %v, want every absent UID [{3 5}]", v)
	}
	data, _ := os.ReadFile(filepath.Join(dir, indexName))
	if strings.Contains(string(data), "\nk\t") || !strings.Contains(string(data), "\nh\t1\n") {
		t.Errorf("index not rewritten:\n%s", data)
	}
}

// TestModSeqReservation: flag-only changes are written without an fsync;
// should a power loss drop those records, the fsynced reservation still
// keeps every MODSEQ after the restart above those handed out before.
func TestModSeqReservation(t *testing.T) {
	t.Parallel()
	s := newTestStore(t, 0)
	mustDeliver(t, s, "", "Subject: x\r\n\r\nx\r\n")
	for i := range 10 {
		op := []FlagOp{FlagsAdd, FlagsRemove}[i%2]
		if _, err := s.SetFlags(acct, Inbox, []uint32{1}, op, []string{FlagSeen}); err != nil {
			t.Fatal(err)
		}
	}
	given := highest(t, s, Inbox)
	index := filepath.Join(s.dir, acct, indexName)
	data, _ := os.ReadFile(index)
	var kept []string
	for _, l := range strings.SplitAfter(string(data), "\n") {
		if !strings.HasPrefix(l, "f\t") {
			kept = append(kept, l)
		}
	}
	if len(kept) == len(strings.SplitAfter(string(data), "\n")) {
		t.Fatalf("no flag records in the index:\n%s", data)
	}
	os.WriteFile(index, []byte(strings.Join(kept, "")), 0o600)
	s2 := reopen(t, s)
	if h := highest(t, s2, Inbox); h < given {
		t.Fatalf("HIGHESTMODSEQ %d after losing the unsynced records, %d handed out before", h, given)
	}
	s2.SetFlags(acct, Inbox, []uint32{1}, FlagsAdd, []string{FlagFlagged})
	if m := modseqOf(t, s2, Inbox, 1); m <= given {
		t.Errorf("MODSEQ %d given again after the restart (had reached %d)", m, given)
	}
}
