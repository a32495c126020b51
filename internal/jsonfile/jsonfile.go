// Package jsonfile keeps a small JSON document that the server and the
// CLI both edit (API keys, webhooks, the suppression list): read again
// whenever its modification time or size changes, so a change made by
// `mailgate ...` takes effect in a running server, and written
// atomically and durably (internal/safefile), readable by the owner only.
package jsonfile

import (
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"

	"mailgate/internal/safefile"
)

// File is one document of type T; an absent file is T's zero value.
type File[T any] struct {
	path string

	mu   sync.Mutex
	val  T
	gen  int // counts the loads, so callers can rebuild what they derive
	mod  time.Time
	size int64
}

// Open loads path.
func Open[T any](path string) (*File[T], error) {
	f := &File[T]{path: path}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f, f.reload()
}

// reload rereads the file if it changed; under mu.
func (f *File[T]) reload() error {
	st, err := os.Stat(f.path)
	if os.IsNotExist(err) {
		if !f.mod.IsZero() || f.size != 0 {
			var zero T
			f.val, f.mod, f.size = zero, time.Time{}, 0
			f.gen++
		}
		return nil
	}
	if err != nil {
		return err
	}
	if st.ModTime().Equal(f.mod) && st.Size() == f.size {
		return nil
	}
	b, err := os.ReadFile(f.path)
	if err != nil {
		return err
	}
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("%s: %v", f.path, err)
	}
	f.val, f.mod, f.size = v, st.ModTime(), st.Size()
	f.gen++
	return nil
}

// Get returns the document as it is on disk now, and a number that
// changes whenever it was read again. The value is shared: never change
// it, copy first. A file that cannot be read keeps the last good value
// (and returns the error).
func (f *File[T]) Get() (T, int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	err := f.reload()
	return f.val, f.gen, err
}

// Edit replaces the document with what change makes of the current one
// (change must not modify its argument in place), on disk first.
func (f *File[T]) Edit(change func(T) (T, error)) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.reload(); err != nil {
		return err
	}
	next, err := change(f.val)
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(next, "", "  ")
	if err != nil {
		return err
	}
	if err := safefile.WriteFile(f.path, append(b, '\n'), 0o600); err != nil {
		return err
	}
	f.val, f.mod = next, time.Time{} // the file's stamp is read at the next Get
	f.gen++
	return nil
}
