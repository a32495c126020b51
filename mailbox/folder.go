package mailbox

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// message is one message of a folder, as the store keeps it in memory.
type message struct {
	// id names this message in the store's memory (the header cache's
	// key): unique for the life of the process and never reused, unlike
	// a file name, an inode or a UID of a folder that may be re-created.
	id       uint64
	uid      uint32
	base     string // unique part of the file name
	sub      string // "new" or "cur"
	name     string // file name inside sub
	info     string // Maildir flag letters, sorted
	keywords []string
	date     time.Time // INTERNALDATE
	size     int64
	modseq   uint64 // MODSEQ (modseq.go)
	// infoKnown: info holds the flag letters of modseq, as the index
	// recorded them (false for an index of an older version).
	infoKnown bool
}

func (m *message) path(dir string) string { return filepath.Join(dir, m.sub, m.name) }

func (m *message) info2() MessageInfo {
	return MessageInfo{UID: m.uid, Size: m.size, InternalDate: m.date, Flags: flagsOf(m.info, m.keywords), Name: m.base,
		ModSeq: m.modseq}
}

// folder is one loaded Maildir folder. All fields are guarded by the
// owning account's mutex.
type folder struct {
	name        string
	dir         string
	uidValidity uint32
	uidNext     uint32
	msgs        []*message // ascending UID
	byBase      map[string]*message
	records     int // lines in the index log, for compaction
	newStamp    time.Time
	curStamp    time.Time
	stampedAt   time.Time // when the stamps were read (settled)
	verifyAt    time.Time // when unsettled stamps get read past (noteStamped)
	modseq      uint64    // bumped on every change; sessions compare it
	recent      uint32    // \Recent boundary (recent.go), once recentSet
	recentSet   bool
	ms          modseqs // MODSEQs (modseq.go), durable in the index
	vocab       vocab   // keywords ever used (vocab.go)
	// pending is the message a put is storing (append.go): its UID is
	// reserved, its file may already be in cur/ or new/ and its record
	// in the index, but it is not in msgs yet. A rescan must not take
	// its file for another program's, nor a compaction drop its record.
	pending *message
}

// takeUID hands out the folder's next UID, passing over the one a put
// has reserved (publish then renumbers that message).
func (f *folder) takeUID() uint32 {
	if f.pending != nil && f.uidNext == f.pending.uid {
		f.uidNext++
	}
	u := f.uidNext
	f.uidNext++
	return u
}

// find returns the message with uid, or nil.
func (f *folder) find(uid uint32) *message {
	i := sort.Search(len(f.msgs), func(i int) bool { return f.msgs[i].uid >= uid })
	if i < len(f.msgs) && f.msgs[i].uid == uid {
		return f.msgs[i]
	}
	return nil
}

// openFolder loads the index and reconciles it with the directory.
func (a *account) openFolder(name string) (*folder, error) {
	if f := a.folders[name]; f != nil {
		return f, a.rescan(f)
	}
	dir := filepath.Join(a.dir, dirName(name))
	if _, err := os.Stat(filepath.Join(dir, "cur")); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, ErrNoFolder
		}
		return nil, err
	}
	cleanTmp(dir, a.store.now())
	f := &folder{name: name, dir: dir, byBase: map[string]*message{}}
	st, err := readIndex(dir)
	if errors.Is(err, errCorruptIndex) {
		// The new UIDVALIDITY must differ from the one clients cached,
		// even when both fall in the same second (see nextUIDValidity).
		a.store.seenUIDValidity(brokenValidity(dir))
		a.store.metrics.brokenIndexes.Inc()
		a.store.logger.Warn("mailbox index is corrupt; moved aside, UIDs renumbered", "dir", dir)
		os.Rename(filepath.Join(dir, indexName), filepath.Join(dir, indexName+".broken"))
		st, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	if st == nil {
		st = &indexState{uidValidity: a.store.nextUIDValidity(), uidNext: 1, msgs: map[uint32]*message{}}
		if err := writeIndex(dir, st.uidValidity, st.uidNext, nil, &st.modseqs, &st.vocab); err != nil {
			return nil, err
		}
	}
	f.uidValidity, f.uidNext, f.records, f.ms = st.uidValidity, st.uidNext, st.records, st.modseqs
	f.ms.reserved = f.ms.highest // from a reservation on, if the index holds one
	f.vocab = st.vocab
	a.store.seenUIDValidity(st.uidValidity)
	for _, m := range st.msgs {
		m.id = a.store.ids.Add(1)
		f.msgs = append(f.msgs, m)
		f.byBase[m.base] = m
		a.usage += m.size
	}
	sort.Slice(f.msgs, func(i, j int) bool { return f.msgs[i].uid < f.msgs[j].uid })
	a.folders[name] = f
	if err := a.rescan(f); err != nil {
		delete(a.folders, name)
		return nil, err
	}
	f.recentFrom() // mail from here on is recent until a session claims it
	if st.legacy {
		return f, a.upgradeIndex(f)
	}
	return f, a.giveLostModSeqs(f)
}

// giveLostModSeqs gives a fresh MODSEQ to every message whose index
// record still says 0: a put logged the real one without an fsync and a
// power loss took it. The fresh one is above every MODSEQ handed out
// before (the reservation, modseq.go), so a client that synchronised
// meanwhile sees the message as changed.
func (a *account) giveLostModSeqs(f *folder) error {
	var records strings.Builder
	for _, m := range f.msgs {
		if m.modseq == 0 {
			records.WriteString(f.touch(m))
			a.bump(f)
		}
	}
	if records.Len() == 0 {
		return nil
	}
	return a.logRecords(f, records.String())
}

// upgradeIndex rewrites the index of an older version, which had no
// MODSEQs: its messages get MODSEQ 1 and the expunges it recorded are
// forgotten (ExpungedSince then answers with every absent UID).
func (a *account) upgradeIndex(f *folder) error {
	f.ms.seen(1)
	for _, m := range f.msgs {
		if m.modseq == 0 {
			m.modseq, m.infoKnown = 1, true
		}
	}
	f.ms.lowWater = f.ms.highest
	f.records = len(f.msgs) + len(f.ms.expunged) + 4
	return writeIndex(f.dir, f.uidValidity, f.uidNext, f.msgs, &f.ms, &f.vocab)
}

// rescan reconciles f with its cur/ and new/ directories when another
// program (mutt, a Dovecot LDA, a backup restore) may have changed them:
// vanished files are expunged, renamed ones change flags, unknown ones
// get the next UIDs. It costs two stat calls when nothing changed and
// the stamps are settled; the first reader after a burst of our own
// changes reads the directories once.
func (a *account) rescan(f *folder) error { return a.scan(f, false) }

// rescanForPut is rescan for a put about to reserve a UID: it trusts
// stamps that are not settled (see settled), since another program's
// file only needs to be found before anyone reads the folder, and the
// put's own rename keeps the stamps fresh.
func (a *account) rescanForPut(f *folder) error { return a.scan(f, true) }

// settleTime is how long after a directory's last change its time must
// have been read for the stamp to be trusted: the kernel stamps
// directories at clock-tick granularity (1-10 ms), so a change made in
// the same tick as the one the stamp shows leaves the time as it was.
const settleTime = 20 * time.Millisecond

// settled reports whether the stamps were read long enough after the
// directories' last change that any later change shows as a new time.
func (f *folder) settled() bool {
	return f.stampedAt.Sub(f.lastStamp()) >= settleTime
}

func (f *folder) lastStamp() time.Time {
	if f.curStamp.After(f.newStamp) {
		return f.curStamp
	}
	return f.newStamp
}

// noteStamped is called whenever the stamps are recorded. Unsettled
// ones are trusted until verifyAt, settleTime after the earliest change
// they may hide; the first reader after it reads the directories. Later
// changes of our own do not push verifyAt back, so under a steady stream
// of them (IMAP sessions storing flags, deliveries) the folder is read
// once per settleTime, not once per reader, and another program's file
// written in the same tick as one of ours shows within about settleTime.
func (f *folder) noteStamped() {
	if f.settled() {
		f.verifyAt = time.Time{}
	} else if f.verifyAt.IsZero() {
		f.verifyAt = f.lastStamp().Add(settleTime)
	}
}

func (a *account) scan(f *folder, forPut bool) error {
	statAt := time.Now()
	ns, err1 := os.Stat(filepath.Join(f.dir, "new"))
	cs, err2 := os.Stat(filepath.Join(f.dir, "cur"))
	if err := errors.Join(err1, err2); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return ErrNoFolder
		}
		return err
	}
	// Unchanged times that were read within a tick of the change they
	// show may hide a later change in the same tick: only reading the
	// directories tells. Such a read, made once the tick has passed,
	// settles the stamps.
	same := ns.ModTime().Equal(f.newStamp) && cs.ModTime().Equal(f.curStamp) && !f.newStamp.IsZero()
	if same && (forPut || f.settled() || statAt.Before(f.verifyAt)) {
		return nil
	}
	if f.pending != nil && !f.newStamp.IsZero() {
		// A put is between reserve and publish: its own rename moved the
		// directory's time, and reading the directory for it would cost
		// every concurrent delivery a scan of the whole folder. publish
		// keeps the stamps stale if anyone else changed the directory,
		// so the next call after it reads the directory then.
		return nil
	}
	a.store.metrics.folderScans.Inc()
	found := map[string]*message{}
	var fresh []*message
	for _, sub := range []string{"new", "cur"} {
		entries, err := os.ReadDir(filepath.Join(f.dir, sub))
		if err != nil {
			return err
		}
		for _, e := range entries {
			if !usableName(e.Name()) || e.IsDir() {
				continue
			}
			base, info := splitName(e.Name())
			m := &message{base: base, sub: sub, name: e.Name(), info: sortInfo(info)}
			if old := found[base]; old != nil {
				continue // the same message twice (a crash mid-move): keep the first
			}
			found[base] = m
			if f.byBase[base] == nil && (f.pending == nil || f.pending.base != base) {
				fresh = append(fresh, m)
			}
		}
	}
	var records strings.Builder
	records.WriteString(a.dropMissing(f, found))
	records.WriteString(a.renamed(f, found))
	records.WriteString(a.addFresh(f, fresh))
	f.newStamp, f.curStamp, f.stampedAt = ns.ModTime(), cs.ModTime(), statAt
	f.verifyAt = time.Time{} // the read just made is the verification
	f.noteStamped()
	if records.Len() == 0 {
		return nil
	}
	return a.logRecords(f, records.String())
}

// renamed takes the names of files that another program renamed (or
// that f does not know yet, when it was just read from the index); a
// message whose flag letters differ from those its MODSEQ was given for
// gets a new MODSEQ. It returns the index records.
func (a *account) renamed(f *folder, found map[string]*message) string {
	var records strings.Builder
	for _, m := range f.msgs {
		d := found[m.base]
		if d == nil || (d.sub == m.sub && d.name == m.name) {
			continue
		}
		flagsChanged := d.info != m.info && (m.sub != "" || m.infoKnown)
		m.sub, m.name, m.info = d.sub, d.name, d.info
		if flagsChanged {
			records.WriteString(f.touch(m))
		}
		a.bump(f)
	}
	return records.String()
}

// dropMissing removes messages whose files are gone and returns their
// index records.
func (a *account) dropMissing(f *folder, found map[string]*message) string {
	var records strings.Builder
	kept := f.msgs[:0]
	for _, m := range f.msgs {
		if found[m.base] == nil {
			records.WriteString(f.expunged(m))
			delete(f.byBase, m.base)
			a.usage -= m.size
			a.bump(f)
			continue
		}
		kept = append(kept, m)
	}
	clear(f.msgs[len(kept):])
	f.msgs = kept
	return records.String()
}

// addFresh gives files the index does not know the next UIDs, oldest
// first, and returns their index records.
func (a *account) addFresh(f *folder, fresh []*message) string {
	var records strings.Builder
	for _, m := range fresh {
		if fi, err := os.Stat(m.path(f.dir)); err == nil {
			m.size, m.date = fi.Size(), fi.ModTime()
		}
	}
	sort.Slice(fresh, func(i, j int) bool {
		if !fresh[i].date.Equal(fresh[j].date) {
			return fresh[i].date.Before(fresh[j].date)
		}
		return fresh[i].base < fresh[j].base
	})
	for _, m := range fresh {
		if idx := f.byBase[m.base]; idx != nil {
			continue
		}
		m.uid = f.takeUID()
		a.insert(f, m)
		records.WriteString(addRecord(m))
	}
	return records.String()
}

// insert adds m (whose UID is the highest) to f.
// It gets the folder's next MODSEQ.
func (a *account) insert(f *folder, m *message) {
	m.id = a.store.ids.Add(1)
	f.adopt(m)
	f.msgs = append(f.msgs, m)
	f.byBase[m.base] = m
	a.usage += m.size
	a.bump(f)
}

// logRecords appends to the index and fsyncs it, compacting it when it
// has grown to more than twice the live records, and wakes watchers.
func (a *account) logRecords(f *folder, records string) error {
	return a.log(f, records, true)
}

// log is logRecords; without sync the records are only written, which a
// SIGKILL cannot undo but a power loss can (see modseq.go's reserve).
func (a *account) log(f *folder, records string, sync bool) error {
	defer a.notify()
	if r := f.ms.reserve(); r != "" {
		records, sync = r+records, true
	}
	f.records += countLines(records)
	live := len(f.msgs) + len(f.ms.expunged) + len(f.vocab.words)
	if f.records > 2*live+256 && f.pending == nil {
		if err := writeIndex(f.dir, f.uidValidity, f.uidNext, f.msgs, &f.ms, &f.vocab); err != nil {
			return err
		}
		f.records = live + 3
		return nil
	}
	return appendIndex(f.dir, records, sync)
}

func countLines(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			n++
		}
	}
	return n
}

// restampAfter records sub's time after a put's own rename, made with
// the account lock free, when that rename is the only change since the
// stamp was taken: the directory's time just before it (st.before) is
// the stamp, and its time now is the one it left (st.after). Then the
// next rescan is skipped. Otherwise the stamp stays stale and the next
// rescan reads the directory, finding whatever else changed.
func (f *folder) restampAfter(sub string, st renameStamps) {
	stamp := &f.curStamp
	if sub == "new" {
		stamp = &f.newStamp
	}
	if st.after.IsZero() || f.newStamp.IsZero() || !stamp.Equal(st.before) {
		return
	}
	if now, err := os.Stat(filepath.Join(f.dir, sub)); err == nil && now.ModTime().Equal(st.after) {
		*stamp, f.stampedAt = st.after, time.Now()
		f.noteStamped()
	}
}

// restamp records the directories' times after our own change, so the
// next rescan is skipped unless someone else touched them.
func (f *folder) restamp() {
	f.stampedAt = time.Now()
	if ns, err := os.Stat(filepath.Join(f.dir, "new")); err == nil {
		f.newStamp = ns.ModTime()
	}
	if cs, err := os.Stat(filepath.Join(f.dir, "cur")); err == nil {
		f.curStamp = cs.ModTime()
	}
	f.noteStamped()
}

// cleanTmp removes files left in tmp/ for more than 36 hours (a crash
// mid-delivery), as the Maildir specification asks.
func cleanTmp(dir string, now time.Time) {
	entries, _ := os.ReadDir(filepath.Join(dir, "tmp"))
	for _, e := range entries {
		if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() && now.Sub(fi.ModTime()) > 36*time.Hour {
			os.Remove(filepath.Join(dir, "tmp", e.Name()))
		}
	}
}
