package queue

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// inodePool keeps the emptied files of removed messages and hands them
// out for new ones. On ext4 without a journal, creating a file right
// after many deletions scans the inode bitmap past every recently
// deleted inode (ext4's recently_deleted()); at a few hundred messages a
// second that was a third of mailgate's CPU. A rename of an empty file
// costs a directory entry and no inode allocation.
type inodePool struct {
	dir   string
	mu    sync.Mutex
	free  []string // names in dir, each an empty file
	seq   uint64
	stamp int64
}

// poolSuffix names pooled files: "<stamp>-<seq>.free". Recover adopts
// them; nothing else reads them.
const poolSuffix = ".free"

// maxPool bounds how many empty files wait in the spool directory.
const maxPool = 4096

func newInodePool(dir string) *inodePool {
	return &inodePool{dir: dir, stamp: time.Now().UnixNano()}
}

// take renames a pooled empty file to dst and reports whether it did;
// without one the caller creates a new file.
func (p *inodePool) take(dst string) bool {
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

// put moves the file at path into the pool and empties it, or removes it
// when the pool is full. A missing file is no error. Renaming first keeps
// a crash from leaving an emptied <id>.msg that Recover would call broken.
func (p *inodePool) put(path string) error {
	p.mu.Lock()
	full := len(p.free) >= maxPool
	p.seq++
	name := fmt.Sprintf("%d-%d%s", p.stamp, p.seq, poolSuffix)
	p.mu.Unlock()
	if !full {
		pooled := filepath.Join(p.dir, name)
		err := os.Rename(path, pooled)
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err == nil {
			if os.Truncate(pooled, 0) != nil {
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

// adopt takes a pooled file found at start-up, emptying it again in case
// a crash kept its old size; extra ones are removed.
func (p *inodePool) adopt(name string) {
	path := filepath.Join(p.dir, name)
	p.mu.Lock()
	full := len(p.free) >= maxPool
	p.mu.Unlock()
	if full || !strings.HasSuffix(name, poolSuffix) || os.Truncate(path, 0) != nil {
		os.Remove(path)
		return
	}
	p.mu.Lock()
	p.free = append(p.free, name)
	p.mu.Unlock()
}

// openNew opens path for writing as an empty file: a pooled inode when
// there is one, else a new file. flag adds O_APPEND or not.
func (p *inodePool) openNew(path string, flag int) (*os.File, error) {
	if p.take(path) {
		return os.OpenFile(path, os.O_WRONLY|os.O_TRUNC|flag, 0o600)
	}
	return os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|flag, 0o600)
}
