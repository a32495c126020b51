// Package inodepool keeps emptied files for reuse in place of new ones.
// The queue's spool and the Maildir store both create and delete a file
// per message; on ext4 the creation after many deletions is what costs.
package inodepool

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Pool keeps the emptied files of removed messages and hands them out
// for new ones. On ext4 without a journal, creating a file right
// after many deletions scans the inode bitmap past every recently
// deleted inode (ext4's recently_deleted()); at a few hundred messages a
// second that was a third of mailgate's CPU. A rename of an empty file
// costs a directory entry and no inode allocation.
type Pool struct {
	dir   string
	mu    sync.Mutex
	free  []string // names in dir, each an empty file
	seq   uint64
	stamp int64
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

// Take renames a pooled empty file to dst and reports whether it did;
// without one the caller creates a new file.
func (p *Pool) Take(dst string) bool {
	for {
		p.mu.Lock()
		n := len(p.free)
		if n == 0 {
			p.mu.Unlock()
			return false
		}
		name := p.free[n-1]
		p.free = p.free[:n-1]
		p.mu.Unlock()
		if os.Rename(filepath.Join(p.dir, name), dst) == nil {
			return true
		}
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
		err := os.Rename(path, pooled)
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err == nil {
			if !soleLink(pooled) || os.Truncate(pooled, 0) != nil {
				return os.Remove(pooled)
			}
			p.mu.Lock()
			p.free = append(p.free, name)
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
// a crash kept its old size; extra ones are removed.
func (p *Pool) Adopt(name string) {
	path := filepath.Join(p.dir, name)
	p.mu.Lock()
	full := len(p.free) >= maxPool
	p.mu.Unlock()
	if full || !strings.HasSuffix(name, Suffix) || !soleLink(path) || os.Truncate(path, 0) != nil {
		os.Remove(path)
		return
	}
	p.mu.Lock()
	p.free = append(p.free, name)
	p.mu.Unlock()
}

// OpenNew opens path for writing as an empty file: a pooled inode when
// there is one, else a new file. flag adds O_APPEND or not.
func (p *Pool) OpenNew(path string, flag int) (*os.File, error) {
	if p.Take(path) {
		return os.OpenFile(path, os.O_WRONLY|os.O_TRUNC|flag, 0o600)
	}
	return os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|flag, 0o600)
}
