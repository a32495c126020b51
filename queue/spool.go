package queue

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"mailgate/internal/inodepool"
	"mailgate/internal/mailmsg"
	"mailgate/internal/rawfile"
	"mailgate/internal/safefile"
)

// spoolMagic opens every spool file; see docs/spool.md for the format.
const spoolMagic = "MAILGATE-SPOOL/1\n"

// File name suffixes in the spool directory.
const (
	msgSuffix    = ".msg"    // envelope + message, written once
	stateSuffix  = ".state"  // per-recipient delivery state, rewritten
	brokenSuffix = ".broken" // unreadable files moved aside at start
	tmpPrefix    = ".tmp-"   // files being written; removed at start
)

// ErrDiskFull is returned when the spool cannot take a message for lack of
// space; the relay answers 452 4.3.1.
var ErrDiskFull = errors.New("queue: spool disk is full")

// Spool keeps messages on disk. A message is acknowledged only after its
// file is written, renamed into place and all of it is on stable storage:
// on Linux one syncfs(2) per batch of messages arriving together (group
// commit by one committer goroutine), elsewhere an fsync of each file and
// one of the directory per batch.
type Spool struct {
	dir     string
	fsDir   *os.File // the directory, open for syncfs; nil: fsync per file
	pool    *inodepool.Pool
	commits chan *commitReq
	done    chan struct{}
	wg      sync.WaitGroup
	metrics *metrics

	// closed and inflight keep the committer running until every Write
	// that started before Close has its answer.
	mu       sync.Mutex
	closed   bool
	inflight sync.WaitGroup
}

// commitReq asks the committer to rename tmp to final (when tmp is set)
// and to fsync the directory; a request without tmp only shares the
// directory fsync (a removal, a new state file).
type commitReq struct {
	tmp, final string
	err        chan error
}

// maxBatch bounds one group commit.
const maxBatch = 256

// OpenSpool creates the spool directory if needed and starts the committer.
func OpenSpool(dir string, m *metrics) (*Spool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if m == nil {
		m = newMetrics(nil)
	}
	s := &Spool{dir: dir, fsDir: openSyncfs(dir), pool: inodepool.NewKeeping(dir, keepBytes), commits: make(chan *commitReq, maxBatch), done: make(chan struct{}), metrics: m}
	s.wg.Add(1)
	go s.committer()
	return s, nil
}

// Dir is the spool directory.
func (s *Spool) Dir() string { return s.dir }

// ErrClosed is returned by Write after Close.
var ErrClosed = errors.New("queue: spool is closed")

// Close waits for writes in progress, then stops the committer. A second
// Close does nothing.
func (s *Spool) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.mu.Unlock()
	s.inflight.Wait()
	close(s.done)
	s.wg.Wait()
	if s.fsDir != nil {
		s.fsDir.Close()
	}
}

// Body is the part of a message the spool copies from where it lies (a
// large incoming message's file); *io.SectionReader is one.
type Body interface {
	io.ReaderAt
	Size() int64
}

// Write stores a message durably. When it returns nil the message survives
// a crash; on error nothing of it is left behind.
func (s *Spool) Write(env *mailmsg.Envelope, raw []byte) error {
	return s.WriteFrom(env, raw, nil)
}

// WriteFrom is Write for the message head followed by body (nil: none),
// which is read twice, for its checksum and to copy it, and never held.
func (s *Spool) WriteFrom(env *mailmsg.Envelope, head []byte, body Body) error {
	if !validID(env.ID) {
		return fmt.Errorf("queue: bad message id %q", env.ID)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	s.inflight.Add(1)
	s.mu.Unlock()
	defer s.inflight.Done()
	final := filepath.Join(s.dir, env.ID+msgSuffix)
	// A pooled file is written over where it lies and renamed into place
	// by the commit; without one, a new temp file.
	size := int64(len(head))
	if body != nil {
		size += body.Size()
	}
	tmp, oldSize, pooled := s.pool.Claim(size + 512) // + the envelope line, about
	if !pooled {
		tmp = filepath.Join(s.dir, tmpPrefix+env.ID+msgSuffix)
	}
	if err := s.writeTemp(tmp, pooled, oldSize, env, head, body); err != nil {
		os.Remove(tmp)
		if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
			return ErrDiskFull
		}
		return err
	}
	req := &commitReq{tmp: tmp, final: final, err: make(chan error, 1)}
	s.commits <- req // the committer runs until this Write returns
	return <-req.err
}

func (s *Spool) writeTemp(tmp string, pooled bool, oldSize int64, env *mailmsg.Envelope, raw []byte, body Body) error {
	msgLen, crc := int64(len(raw)), crc32.Checksum(raw, crcTable)
	if body != nil {
		var err error
		if crc, err = bodyCRC(crc, body); err != nil {
			return err
		}
		msgLen += body.Size()
	}
	head, err := json.Marshal(spoolHead{Envelope: env, BodyLen: msgLen, BodyCRC: crc})
	if err != nil {
		return err
	}
	flag := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if pooled {
		flag = os.O_WRONLY // written over in place (inodepool.NewKeeping)
	}
	f, err := rawfile.Open(tmp, flag, 0o600)
	if err != nil {
		return err
	}
	// One writev of the small head and the message: no 64 KB buffer to
	// allocate and fill per message.
	head = append(append([]byte(spoolMagic), head...), '\n')
	bufs := net.Buffers{head, raw}
	n, err := bufs.WriteTo(f)
	if err == nil && body != nil {
		var k int64
		k, err = io.Copy(f, io.NewSectionReader(body, 0, body.Size()))
		if n += k; err == nil && k != body.Size() {
			err = io.ErrUnexpectedEOF
		}
	}
	if err == nil && oldSize > n+maxStaleTail {
		err = f.Truncate(n)
	}
	if err != nil {
		f.Close()
		return err
	}
	if s.fsDir == nil {
		start := time.Now()
		err = f.Sync()
		s.metrics.fsyncSeconds.Observe(time.Since(start).Seconds())
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// bodyCRC continues crc over body, read in blocks.
func bodyCRC(crc uint32, body Body) (uint32, error) {
	buf := make([]byte, 64<<10)
	for off := int64(0); off < body.Size(); {
		k, err := body.ReadAt(buf[:min(int64(len(buf)), body.Size()-off)], off)
		crc = crc32.Update(crc, crcTable, buf[:k])
		off += int64(k)
		if err != nil && !(err == io.EOF && off == body.Size()) {
			return 0, err
		}
	}
	return crc, nil
}

// committer renames a batch of temp files into place and makes the batch
// durable with one flush (see Spool).
func (s *Spool) committer() {
	defer s.wg.Done()
	for {
		var first *commitReq
		select {
		case first = <-s.commits:
		case <-s.done:
			s.drain()
			return
		}
		batch := []*commitReq{first}
	fill:
		for len(batch) < maxBatch {
			select {
			case r := <-s.commits:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		s.commit(batch)
	}
}

// flush makes everything the committer's batch wrote durable.
func (s *Spool) flush() error {
	if s.fsDir != nil {
		return syncfs(s.fsDir)
	}
	return safefile.SyncDir(s.dir)
}

func (s *Spool) drain() {
	for {
		select {
		case r := <-s.commits:
			s.commit([]*commitReq{r})
		default:
			return
		}
	}
}

func (s *Spool) commit(batch []*commitReq) {
	s.metrics.batchSize.Observe(float64(len(batch)))
	errs := make([]error, len(batch))
	for i, r := range batch {
		if r.tmp != "" {
			errs[i] = rawfile.Rename(r.tmp, r.final)
		}
	}
	start := time.Now()
	dirErr := s.flush()
	s.metrics.fsyncSeconds.Observe(time.Since(start).Seconds())
	for i, r := range batch {
		if errs[i] == nil && dirErr != nil {
			errs[i] = dirErr
			if r.tmp != "" {
				os.Remove(r.final)
			}
		}
		if errs[i] != nil && r.tmp != "" {
			os.Remove(r.tmp)
		}
		r.err <- errs[i]
	}
}

// keepBytes bounds the old content the spool's pooled files may keep.
const keepBytes = 64 << 20

// maxStaleTail is the most old content left after a message written
// over a pooled file; beyond it the file is cut to the message's length.
const maxStaleTail = 64 << 10

// Remove deletes a message's files once every recipient is final.
func (s *Spool) Remove(id string) error {
	if err := s.Discard(id); err != nil {
		return err
	}
	return s.syncDir()
}

// Discard takes a message's files out of the spool without waiting for
// the directory fsync that makes it durable (the caller syncs a batch).
func (s *Spool) Discard(id string) error {
	return s.discard(id, true)
}

// discard is Discard for a message that may have no state file: the
// queue knows when it wrote none (a message delivered at its first
// attempt), and then a rename that fails is two system calls saved.
func (s *Spool) discard(id string, state bool) error {
	if !validID(id) {
		return fmt.Errorf("queue: bad message id %q", id)
	}
	sufs := []string{stateSuffix, msgSuffix}
	if !state {
		sufs = sufs[1:]
	}
	for _, suf := range sufs {
		if err := s.pool.Put(filepath.Join(s.dir, id+suf)); err != nil {
			return err
		}
	}
	return nil
}

// syncDir makes renames, new files and removals in the spool directory
// durable, sharing one directory fsync with whatever else the committer
// has in hand (group commit).
func (s *Spool) syncDir() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		if d := openSyncfs(s.dir); d != nil { // the check is the flush
			return d.Close()
		}
		return safefile.SyncDir(s.dir)
	}
	s.inflight.Add(1)
	s.mu.Unlock()
	defer s.inflight.Done()
	req := &commitReq{err: make(chan error, 1)}
	s.commits <- req
	return <-req.err
}

// Recovered is what Recover found for one message.
type Recovered struct {
	Env   *mailmsg.Envelope
	State []byte // content of the .state file, nil if none
	Size  int    // the message's length (the file also holds the envelope)
}

// Recover scans the spool at start: temp files of unacknowledged messages
// are deleted, unreadable files are moved aside as .broken (and counted),
// and every good message is returned. It never fails on one bad file.
func (s *Spool) Recover() ([]Recovered, int, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, 0, err
	}
	var out []Recovered
	broken := 0
	for _, e := range entries {
		name := e.Name()
		switch {
		case strings.HasPrefix(name, tmpPrefix) || isSafefileTemp(name):
			os.Remove(filepath.Join(s.dir, name))
		case strings.HasSuffix(name, inodepool.Suffix):
			s.pool.Adopt(name)
		case strings.HasSuffix(name, msgSuffix):
			r, err := s.recoverOne(strings.TrimSuffix(name, msgSuffix))
			if err != nil {
				broken++
				s.moveAside(name)
				continue
			}
			out = append(out, r)
		}
	}
	s.metrics.broken.Add(float64(broken))
	return out, broken, safefile.SyncDir(s.dir)
}

// isSafefileTemp matches what a crash in WriteState leaves behind:
// safefile.WriteFile's temp file ".<id>.state.tmp<random>".
func isSafefileTemp(name string) bool {
	return strings.HasPrefix(name, ".") && strings.Contains(name, stateSuffix+".tmp")
}

func (s *Spool) recoverOne(id string) (Recovered, error) {
	if !validID(id) {
		return Recovered{}, errors.New("bad id")
	}
	env, raw, err := s.ReadMessage(id)
	if err != nil {
		return Recovered{}, err
	}
	if env.ID != id {
		return Recovered{}, errors.New("id does not match file name")
	}
	state, err := os.ReadFile(filepath.Join(s.dir, id+stateSuffix))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return Recovered{}, err
	}
	return Recovered{Env: env, State: decodeState(id, state), Size: len(raw)}, nil
}

func (s *Spool) moveAside(name string) {
	id := strings.TrimSuffix(name, msgSuffix)
	for _, suf := range []string{msgSuffix, stateSuffix} {
		p := filepath.Join(s.dir, id+suf)
		if _, err := os.Stat(p); err == nil {
			os.Rename(p, p+brokenSuffix)
		}
	}
}

// WriteState durably replaces a message's delivery state by appending a
// record to its .state file (see stateRecord) and fdatasyncing it: after
// the first attempt no new inode, no rename and no directory fsync. The
// first record creates the file, whose directory entry then shares a
// group commit. A record torn by a crash fails its checksum and the one
// before it counts, as with an atomic rename.
func (s *Spool) WriteState(id string, state []byte) error {
	if !validID(id) {
		return fmt.Errorf("queue: bad message id %q", id)
	}
	path := filepath.Join(s.dir, id+stateSuffix)
	created := false
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if errors.Is(err, os.ErrNotExist) {
		f, err = s.pool.OpenNew(path, os.O_APPEND)
		created = true
	}
	if err != nil {
		return err
	}
	_, err = f.Write(stateRecord(id, state))
	if err == nil && s.fsDir == nil {
		start := time.Now()
		err = syscall.Fdatasync(int(f.Fd()))
		s.metrics.fsyncSeconds.Observe(time.Since(start).Seconds())
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && (created || s.fsDir != nil) {
		err = s.syncDir() // with syncfs, the committer's flush covers the record too
	}
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return ErrDiskFull
	}
	return err
}
