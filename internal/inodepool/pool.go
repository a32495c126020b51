// Package inodepool keeps emptied files for reuse in place of new ones.
// The queue's spool creates and deletes a file per message; on ext4 the
// creation after many deletions is what costs. Only an owner that alone
// reads its files, and can tell its own bytes from a previous owner's,
// may use it: the Maildir store no longer does, because a session could
// still be reading an expunged message when its file was handed to the
// next one (docs/mailbox.md).
package inodepool

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"mailgate/internal/rawfile"
)

// Pool keeps the emptied files of removed messages and hands them out
// for new ones. On ext4 without a journal, creating a file right
// after many deletions scans the inode bitmap past every recently
// deleted inode (ext4's recently_deleted()); at a few hundred messages a
// second that was a third of mailgate's CPU. A rename of an empty file
// costs a directory entry and no inode allocation.
type Pool struct {
	dir     string
	noLinks bool  // files put here never have a second name (see NewNoLinks)
	keepMax int64 // bytes of old content pooled files may keep (see NewKeeping)
	mu      sync.Mutex
	free    []entry // files in dir, empty unless keepMax allows content
	kept    int64   // sum of the sizes in free
	seq     uint64
	stamp   int64
}

// entry is one pooled file and the size it was left with.
type entry struct {
	name string
	size int64
}

// Suffix names pooled files: "<stamp>-<seq>.free". The owner's start-up
// scan hands them to Adopt; nothing else reads them.
const Suffix = ".free"

// maxPool bounds how many empty files wait in a pool's directory.
const maxPool = 4096

// New returns an empty pool whose files live in dir, which must be on
// the same file system as the files put into it.
func New(dir string) *Pool {
	return &Pool{dir: dir, stamp: time.Now().UnixNano()}
}

// NewNoLinks is New for a directory whose files are never hard-linked
// (the spool): Put skips the link count check, a stat per file.
func NewNoLinks(dir string) *Pool {
	p := New(dir)
	p.noLinks = true
	return p
}

// NewKeeping is NewNoLinks for an owner that overwrites the files it
// claims and can tell its own bytes from a previous message's (the spool:
// the envelope names the message, and a length and checksum end its
// content). Put then keeps a file's content instead of truncating it, as
// long as the pool holds at most maxBytes of it: emptying a file freed its
// blocks (with the discard mount option, a discard request each) only for
// the next message to allocate them again, 9% of the CPU per message
// (perf under mailgate-bench send; queue's BenchmarkSpoolLifecycle runs
// this path).
func NewKeeping(dir string, maxBytes int64) *Pool {
	p := NewNoLinks(dir)
	p.keepMax = maxBytes
	return p
}

// Claim hands out a pooled file where it lies, for the caller to write
// and then rename into place (or remove): one rename fewer than Take.
// size is what the file holds: 0, or old content the caller overwrites
// (NewKeeping). A crash before that rename leaves it under its pool name,
// and Adopt takes it again at start. ok is false when the pool is empty.
//
// want is the size the caller will write: among the newest few pooled
// files Claim picks the smallest that holds it, so that a small message
// does not take (and cut back) a large message's blocks and a large one
// needs as few new blocks as it can; failing that, the largest.
func (p *Pool) Claim(want int64) (path string, size int64, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.free); n > 1 {
		best := n - 1
		for i := n - 1; i >= max(0, n-claimWindow); i-- {
			if better(p.free[i].size, p.free[best].size, want) {
				best = i
			}
		}
		p.free[best], p.free[n-1] = p.free[n-1], p.free[best]
	}
	e, ok := p.pop()
	if !ok {
		return "", 0, false
	}
	return filepath.Join(p.dir, e.name), e.size, true
}

// claimWindow is how many of the newest pooled files Claim compares.
const claimWindow = 16

// better reports whether a file of size a suits a write of want bytes
// better than one of size b.
func better(a, b, want int64) bool {
	switch aFits, bFits := a >= want, b >= want; {
	case aFits && bFits:
		return a < b
	case aFits != bFits:
		return aFits
	}
	return a > b
}

// pop takes the newest entry; p.mu is held.
func (p *Pool) pop() (entry, bool) {
	n := len(p.free)
	if n == 0 {
		return entry{}, false
	}
	e := p.free[n-1]
	p.free = p.free[:n-1]
	p.kept -= e.size
	return e, true
}

// push adds an entry; p.mu is held.
func (p *Pool) push(e entry) {
	p.free = append(p.free, e)
	p.kept += e.size
}

// Take renames a pooled file to dst, emptied, and reports whether it
// did; without one the caller creates a new file.
func (p *Pool) Take(dst string) bool {
	for {
		p.mu.Lock()
		e, ok := p.pop()
		p.mu.Unlock()
		if !ok {
			return false
		}
		if rawfile.Rename(filepath.Join(p.dir, e.name), dst) != nil {
			continue
		}
		if e.size > 0 && empty(dst) != nil {
			os.Remove(dst)
			continue
		}
		return true
	}
}

// Put moves the file at path into the pool and empties it, or removes it
// when the pool is full. A missing file is no error. Renaming first keeps
// a crash from leaving an emptied file under its old name (a spool's
// Recover would call it broken). A file with other hard links (a Maildir
// COPY links the message into the other folder) only loses this name:
// emptying it would empty the other copies too.
func (p *Pool) Put(path string) error {
	p.mu.Lock()
	full := len(p.free) >= maxPool
	p.seq++
	name := fmt.Sprintf("%d-%d%s", p.stamp, p.seq, Suffix)
	p.mu.Unlock()
	if !full {
		pooled := filepath.Join(p.dir, name)
		err := rawfile.Rename(path, pooled)
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err == nil {
			if !p.noLinks && !soleLink(pooled) {
				return os.Remove(pooled)
			}
			size, err := p.keep(pooled)
			if err != nil {
				return os.Remove(pooled)
			}
			p.mu.Lock()
			p.push(entry{name: name, size: size})
			p.mu.Unlock()
			return nil
		}
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// Adopt takes a pooled file found at start-up, emptying it again in case
// a crash kept its old size (or keeping its content, within NewKeeping's
// bound); extra ones are removed.
func (p *Pool) Adopt(name string) {
	path := filepath.Join(p.dir, name)
	p.mu.Lock()
	full := len(p.free) >= maxPool
	p.mu.Unlock()
	if full || !strings.HasSuffix(name, Suffix) || !soleLink(path) {
		os.Remove(path)
		return
	}
	size, err := p.keep(path)
	if err != nil {
		os.Remove(path)
		return
	}
	p.mu.Lock()
	p.push(entry{name: name, size: size})
	p.mu.Unlock()
}

// keep decides whether a file entering the pool keeps its content: only
// in a NewKeeping pool, and while the pool's kept bytes stay within its
// bound. Otherwise the file is emptied. It returns the size left.
func (p *Pool) keep(path string) (int64, error) {
	if p.keepMax > 0 {
		if fi, err := os.Lstat(path); err == nil {
			size := fi.Size()
			p.mu.Lock()
			fits := p.kept+size <= p.keepMax
			p.mu.Unlock()
			if fits {
				return size, nil
			}
		}
	}
	return 0, empty(path)
}

// OpenNew opens path for writing as an empty file: a pooled inode when
// there is one, else a new file. flag adds O_APPEND or not. A pooled
// file is already empty, so it is not opened with O_TRUNC (see empty).
func (p *Pool) OpenNew(path string, flag int) (*os.File, error) {
	if p.Take(path) {
		return rawfile.Open(path, os.O_WRONLY|flag, 0o600)
	}
	return rawfile.Open(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|flag, 0o600)
}

// empty truncates the file through a descriptor of its own. On ext4 a
// truncation to zero marks the inode to have its new data written out
// when it is next closed (auto_da_alloc, for programs that rewrite a file
// without fsync); closing here, while the file is empty, spends that on
// nothing, instead of on the writer of the next message, whose data the
// owner's own sync writes out in a batch anyway.
func empty(path string) error {
	f, err := rawfile.Open(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	err = f.Truncate(0)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
