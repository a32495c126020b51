package queue

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"mailgate/internal/safefile"
)

// Finished keeps the final state of each message that left the queue, so
// that GET /api/v1/messages/{id} still answers once every recipient is
// delivered or bounced, and a bounce that arrives later by mail can be
// matched to a message we really sent. Records are JSON lines appended
// to one file per minute of the messages' acceptance (the minute is in
// the queue ID), so a lookup reads one small file; files untouched for
// the retention period go, and past the size cap the oldest go first.
//
// Records are appended by the remover before a message's spool files are
// taken out, and made durable by the same flush: a crash can never leave
// a finished message without its record (at worst with two, when it was
// delivered again after the crash; the last one counts).
type Finished struct {
	dir       string
	retention time.Duration
	maxBytes  int64
	now       func() time.Time

	mu        sync.Mutex
	dirty     map[string]bool // files appended to since the last Sync
	lastPrune time.Time
	// cur is the file last appended to, kept open: most records of a
	// batch go to the same minute's file.
	cur     *os.File
	curPath string
}

// pruneEvery is how often Sync prunes while messages finish.
const pruneEvery = time.Hour

// FinishedRecord is one finished message.
type FinishedRecord struct {
	ID         string         `json:"id"`
	Account    string         `json:"account,omitempty"`
	From       string         `json:"from"`
	Finished   time.Time      `json:"finished"`
	Recipients []FinishedRcpt `json:"recipients"`
}

// FinishedRcpt is one recipient's final state: delivered (Reply is the
// remote's answer to the content) or bounced (Reply is the failure);
// Suppressed says the bounce put the address on the account's list.
type FinishedRcpt struct {
	Recipient  string `json:"recipient"`
	State      string `json:"state"`
	Status     string `json:"status,omitempty"`
	Reply      string `json:"reply,omitempty"`
	Attempts   int    `json:"attempts"`
	Suppressed bool   `json:"suppressed,omitempty"`
}

// finishedSuffix names the record files, finishedDir their directory
// inside the spool.
const (
	finishedSuffix = ".log"
	finishedDir    = "finished"
	// maxRecordLine bounds one record (a message of many recipients
	// with long replies) when reading.
	maxRecordLine = 8 << 20
)

// OpenFinished opens (creating) the records in dir; retention 0 keeps
// none.
func OpenFinished(dir string, retention time.Duration, maxBytes int64, now func() time.Time) (*Finished, error) {
	if now == nil {
		now = time.Now
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	f := &Finished{dir: dir, retention: retention, maxBytes: maxBytes, now: now, dirty: map[string]bool{}}
	f.Prune()
	return f, nil
}

// fileOf is the file of a queue ID: the minute it was accepted.
func (f *Finished) fileOf(id string) (string, bool) {
	if !validID(id) {
		return "", false
	}
	us, err := strconv.ParseInt(id[:13], 16, 64)
	if err != nil {
		return "", false
	}
	return filepath.Join(f.dir, time.UnixMicro(us).UTC().Format("200601021504")+finishedSuffix), true
}

// Append writes a record (not yet durable: Sync).
func (f *Finished) Append(rec FinishedRecord) error {
	if f == nil || f.retention <= 0 {
		return nil
	}
	path, ok := f.fileOf(rec.ID)
	if !ok {
		return errors.New("queue: bad message id " + strconv.Quote(rec.ID))
	}
	line, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	file, err := f.open(path)
	if err != nil {
		return err
	}
	if _, err := file.Write(append(line, '\n')); err != nil {
		f.closeCur()
		return err
	}
	f.dirty[path] = true
	return nil
}

// open returns path opened for appending, ending on a whole line (a
// crash may have torn the last one); f.mu is held.
func (f *Finished) open(path string) (*os.File, error) {
	if f.cur != nil && f.curPath == path {
		return f.cur, nil
	}
	f.closeCur()
	file, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	if st, err := file.Stat(); err == nil && st.Size() > 0 {
		var last [1]byte
		if _, err := file.ReadAt(last[:], st.Size()-1); err == nil && last[0] != '\n' {
			file.Write([]byte{'\n'})
		}
	}
	f.cur, f.curPath = file, path
	return file, nil
}

func (f *Finished) closeCur() {
	if f.cur != nil {
		f.cur.Close()
		f.cur, f.curPath = nil, ""
	}
}

// Close closes the open file.
func (f *Finished) Close() {
	if f == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closeCur()
}

// Sync makes the records appended since the last Sync durable.
func (f *Finished) Sync() error { return f.sync(true) }

// Flushed is Sync when the caller's next step is a syncfs(2) of the file
// system the records are on (the spool's group commit, see
// Spool.flushCovers): that flush makes them durable with the removals of
// the same batch, and fsyncs of their own would be two more journal
// commits per batch, each of which the acceptance of new mail waits
// behind. (An fsync orders nothing here either: the batch's spool files
// were already renamed away before it.)
func (f *Finished) Flushed() { _ = f.sync(false) }

func (f *Finished) sync(fsync bool) error {
	if f == nil {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var first error
	for path := range f.dirty {
		var err error
		if !fsync {
			// made durable by the caller's flush
		} else if f.cur != nil && path == f.curPath {
			err = f.cur.Sync()
		} else {
			err = syncFile(path)
		}
		if err != nil && first == nil {
			first = err
		}
		delete(f.dirty, path)
	}
	if first == nil && fsync {
		first = safefile.SyncDir(f.dir)
	}
	if f.now().Sub(f.lastPrune) >= pruneEvery {
		f.pruneLocked()
	}
	return first
}

func syncFile(path string) error {
	file, err := os.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return err
	}
	defer file.Close()
	return file.Sync()
}

// Get returns the last record of id; ok is false when there is none
// (never finished here, or pruned).
func (f *Finished) Get(id string) (FinishedRecord, bool) {
	if f == nil {
		return FinishedRecord{}, false
	}
	path, ok := f.fileOf(id)
	if !ok {
		return FinishedRecord{}, false
	}
	file, err := os.Open(path)
	if err != nil {
		return FinishedRecord{}, false
	}
	defer file.Close()
	return lastRecord(file, id)
}

// lastRecord scans JSON lines for the last record of id; torn or
// foreign lines are skipped.
func lastRecord(r io.Reader, id string) (FinishedRecord, bool) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxRecordLine)
	needle := []byte(`"id":"` + id + `"`)
	var out FinishedRecord
	found := false
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.Contains(line, needle) {
			continue
		}
		var rec FinishedRecord
		if json.Unmarshal(line, &rec) == nil && rec.ID == id {
			out, found = rec, true
		}
	}
	return out, found
}

// Prune deletes the files not written for the retention period, then the
// oldest ones while all of them are over the size cap. It runs at start
// and, while messages finish, once an hour.
func (f *Finished) Prune() {
	if f == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pruneLocked()
}

func (f *Finished) pruneLocked() {
	f.lastPrune = f.now()
	f.closeCur() // the file may go
	entries, err := os.ReadDir(f.dir)
	if err != nil {
		return
	}
	type file struct {
		path string
		mod  time.Time
		size int64
	}
	var files []file
	var total int64
	cutoff := f.now().Add(-f.retention)
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || !strings.HasSuffix(e.Name(), finishedSuffix) {
			continue
		}
		p := filepath.Join(f.dir, e.Name())
		if f.retention <= 0 || info.ModTime().Before(cutoff) {
			os.Remove(p)
			continue
		}
		files = append(files, file{p, info.ModTime(), info.Size()})
		total += info.Size()
	}
	sort.Slice(files, func(i, j int) bool { return files[i].mod.Before(files[j].mod) })
	for i := 0; total > f.maxBytes && i < len(files); i++ {
		os.Remove(files[i].path)
		total -= files[i].size
	}
}
