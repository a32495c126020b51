package scripts

import (
	"errors"
	"os"
	"path/filepath"

	"mailgate/internal/safefile"
	"mailgate/sieve"
)

// Put stores a script after checking it; a broken script is refused
// with its *sieve.Error and nothing is written.
func (s *Store) Put(account, name string, src []byte) error {
	p, err := s.path(account, name)
	if err != nil {
		return err
	}
	if err := s.HaveSpace(account, name, int64(len(src))); err != nil {
		return err
	}
	if err := s.Check(src); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.cache, filepath.Dir(p))
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	return safefile.WriteFile(p, src, 0o600)
}

// SetActive makes name the active script; "" leaves none active.
func (s *Store) SetActive(account, name string) error {
	dir, err := s.Dir(account)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.cache, dir)
	marker := filepath.Join(dir, "active")
	if name == "" {
		err := os.Remove(marker)
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		return safefile.SyncDir(dir)
	}
	p, err := s.path(account, name)
	if err != nil {
		return err
	}
	if _, err := os.Stat(p); err != nil {
		return ErrNoScript
	}
	return safefile.WriteFile(marker, []byte(name+"\n"), 0o600)
}

// Delete removes a script that is not active.
func (s *Store) Delete(account, name string) error {
	p, err := s.path(account, name)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	dir := filepath.Dir(p)
	if s.activeName(dir) == name {
		return ErrActive
	}
	if err := os.Remove(p); errors.Is(err, os.ErrNotExist) {
		return ErrNoScript
	} else if err != nil {
		return err
	}
	return safefile.SyncDir(dir)
}

// Rename gives a script a new name; the active marker follows it.
func (s *Store) Rename(account, from, to string) error {
	src, err := s.path(account, from)
	if err != nil {
		return err
	}
	dst, err := s.path(account, to)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.cache, filepath.Dir(src))
	if _, err := os.Stat(src); err != nil {
		return ErrNoScript
	}
	if _, err := os.Stat(dst); err == nil {
		return ErrExists
	}
	if err := os.Rename(src, dst); err != nil {
		return err
	}
	dir := filepath.Dir(src)
	if err := safefile.SyncDir(dir); err != nil {
		return err
	}
	if s.activeName(dir) == from {
		return safefile.WriteFile(filepath.Join(dir, "active"), []byte(to+"\n"), 0o600)
	}
	return nil
}

// Active returns the account's active script, parsed (and cached until
// the file or the marker changes); nil when there is none.
func (s *Store) Active(account string) (*sieve.Script, string, error) {
	dir, err := s.Dir(account)
	if err != nil {
		return nil, "", err
	}
	mst, err := os.Stat(filepath.Join(dir, "active"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", err
	}
	name := s.activeName(dir)
	p, err := s.path(account, name)
	if err != nil {
		return nil, "", err
	}
	st, err := os.Stat(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", err
	}
	s.mu.Lock()
	c, ok := s.cache[dir]
	s.mu.Unlock()
	if ok && c.name == name && c.mod.Equal(st.ModTime()) && c.size == st.Size() && c.marker.Equal(mst.ModTime()) {
		return c.script, name, nil
	}
	src, err := os.ReadFile(p)
	if err != nil {
		return nil, "", err
	}
	sc, err := sieve.Parse(src, s.lim.MaxScriptSize)
	if err != nil {
		return nil, name, err
	}
	s.mu.Lock()
	s.cache[dir] = cached{name: name, mod: st.ModTime(), size: st.Size(), script: sc, marker: mst.ModTime()}
	s.mu.Unlock()
	return sc, name, nil
}
