package mailbox

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"mailgate/internal/rawfile"
)

// Staged appends: the store's half of an IMAP APPEND that stores several
// messages at once (MULTIAPPEND, RFC 3502) or builds one from pieces
// (CATENATE, RFC 4469). Each message is first written to the folder's
// tmp/ as a Draft, outside the account lock and while the client is
// still sending the next one; nothing of it is part of the folder yet.
// CommitStaged then moves the whole batch in under one hold of the
// account lock, so that no other session (IDLE, NOOP, STATUS, a rescan)
// ever sees some of the messages without the others: they appear
// together or, when the command fails, never.

// ErrTooBig is returned by a Draft's Write once the message has grown
// past the draft's limit (IMAP answers NO [TOOBIG]).
var ErrTooBig = errTooBig

// Draft is a message being written to a folder's tmp/ (with CRLF line
// endings unless raw). Finish ends it as a Staged message; Discard
// removes it. A Draft is used by one goroutine.
type Draft struct {
	store   *Store
	account string
	folder  string
	tmpName string
	path    string
	file    *os.File
	cw      *crlfWriter
}

// Staged is a message written to tmp/ and fsynced, waiting for
// CommitStaged.
type Staged struct {
	account, folder string
	tmpName, path   string
	size            int64
	letters         string
	keywords        []string
	date            time.Time
}

// NewDraft starts a message for a folder of an account, which must
// exist. limit < 0 means no limit; raw stores the bytes as written
// (a literal8 APPEND, RFC 3516), else bare CR and LF become CRLF.
func (s *Store) NewDraft(account, folder string, limit int64, raw bool) (*Draft, error) {
	a, err := s.lock(account)
	if err != nil {
		return nil, err
	}
	f, err := a.folder(folder)
	a.mu.Unlock()
	if err != nil {
		return nil, err
	}
	now := s.now()
	d := &Draft{store: s, account: account, folder: folder,
		tmpName: s.names.next(now.Unix(), int64(now.Nanosecond()/1000))}
	d.path = filepath.Join(f.dir, "tmp", d.tmpName)
	d.file, err = rawfile.Open(d.path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	d.cw = &crlfWriter{w: bufio.NewWriterSize(d.file, 16<<10), limit: limit, raw: raw}
	return d, nil
}

// Write adds bytes to the message; past the limit it returns ErrTooBig.
func (d *Draft) Write(p []byte) (int, error) { return d.cw.Write(p) }

// Size is the number of octets stored so far.
func (d *Draft) Size() int64 { return d.cw.n }

// Finish flushes and fsyncs the message and gives it its flags and
// INTERNALDATE (zero: the time of the commit). The Draft is done either
// way; on error its file is removed.
func (d *Draft) Finish(flags []string, date time.Time) (*Staged, error) {
	err := d.cw.finish()
	if err == nil {
		err = d.file.Sync()
	}
	if cerr := d.file.Close(); err == nil {
		err = cerr
	}
	d.file = nil
	if err != nil {
		os.Remove(d.path)
		return nil, err
	}
	letters, keywords := splitFlags(flags)
	return &Staged{account: d.account, folder: d.folder, tmpName: d.tmpName, path: d.path,
		size: d.cw.n, letters: letters, keywords: keywords, date: date}, nil
}

// Discard abandons an unfinished message and removes its file.
func (d *Draft) Discard() {
	if d.file != nil {
		d.file.Close()
		d.file = nil
	}
	os.Remove(d.path)
}

// Size is the message's size in octets, as stored.
func (m *Staged) Size() int64 { return m.size }

// Discard removes a staged message that will not be committed.
func (m *Staged) Discard() { os.Remove(m.path) }

// CommitStaged adds staged messages to a folder, in order, as one
// change: under one hold of the account lock it checks the quota for
// all of them together, renames every file into cur/, fsyncs cur/ once,
// gives them consecutive UIDs, writes their index records in one fsynced
// append and only then wakes the watchers. On error none of them is in
// the folder and their files are removed.
func (s *Store) CommitStaged(account, folder string, msgs []*Staged) ([]AppendResult, error) {
	for _, m := range msgs {
		if m.account != account || m.folder != folder {
			discardAll(msgs)
			return nil, errors.New("mailbox: staged message committed to another folder")
		}
	}
	a, f, err := s.lockFolder(account, folder)
	if err != nil {
		discardAll(msgs)
		return nil, err
	}
	defer a.mu.Unlock()
	batch, err := a.moveStaged(f, msgs)
	if err != nil {
		return nil, err
	}
	now := s.now()
	var records string
	out := make([]AppendResult, len(batch))
	for i, m := range batch {
		if m.date.IsZero() {
			m.date = now
		}
		m.uid = f.takeUID()
		a.insert(f, m)
		records += addRecord(m)
		out[i] = AppendResult{UIDValidity: f.uidValidity, UID: m.uid}
	}
	f.restamp()
	return out, a.logRecords(f, records)
}

// moveStaged checks the quota for the batch and renames its files into
// cur/; a.mu is held. On error every file of the batch is removed,
// those already renamed included (no session can have seen them: they
// are not in the index, and a rescan needs a.mu).
func (a *account) moveStaged(f *folder, msgs []*Staged) ([]*message, error) {
	var total int64
	for _, m := range msgs {
		total += m.size
	}
	if err := a.checkQuota(total); err != nil {
		discardAll(msgs)
		return nil, err
	}
	batch := make([]*message, 0, len(msgs))
	undo := func(err error) ([]*message, error) {
		for _, m := range batch {
			os.Remove(m.path(f.dir))
		}
		discardAll(msgs[len(batch):])
		return nil, err
	}
	for _, st := range msgs {
		base := st.tmpName + ",S=" + strconv.FormatInt(st.size, 10)
		m := &message{base: base, sub: "cur", name: base + ":2," + st.letters, info: st.letters,
			keywords: st.keywords, date: st.date, size: st.size}
		if err := rawfile.Rename(st.path, m.path(f.dir)); err != nil {
			return undo(err)
		}
		batch = append(batch, m)
	}
	if err := syncDir(filepath.Join(f.dir, "cur")); err != nil {
		return undo(err)
	}
	return batch, nil
}

func discardAll(msgs []*Staged) {
	for _, m := range msgs {
		m.Discard()
	}
}
