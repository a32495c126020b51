package scripts

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"mailgate/sieve"
)

func TestStoreLifecycle(t *testing.T) {
	dir := t.TempDir()
	s, err := New(dir, Limits{MaxScripts: 2, MaxScriptSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	const acct = "alice@example.com"
	if err := s.Put(acct, "a/../b é", []byte("keep;")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, acct, "a%2F%2E%2E%2Fb%20%C3%A9.sieve")); err != nil {
		t.Errorf("name not encoded into one safe file: %v", err)
	}
	var se *sieve.Error
	if err := s.Put(acct, "bad", []byte("keep")); !errors.As(err, &se) || se.Pos.Line != 1 {
		t.Errorf("broken script: %v", err)
	}
	if err := s.Put(acct, "big", make([]byte, 101)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("too large: %v", err)
	}
	s.Put(acct, "two", []byte("discard;"))
	if err := s.Put(acct, "three", []byte("keep;")); !errors.Is(err, ErrTooMany) {
		t.Errorf("third script: %v", err)
	}
	if err := s.Put(acct, "two", []byte("keep;")); err != nil {
		t.Errorf("replacing under the script limit: %v", err)
	}
	if err := s.SetActive(acct, "nope"); !errors.Is(err, ErrNoScript) {
		t.Errorf("activate missing: %v", err)
	}
	if err := s.SetActive(acct, "two"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(acct, "two"); !errors.Is(err, ErrActive) {
		t.Errorf("delete active: %v", err)
	}
	if err := s.Rename(acct, "two", "a/../b é"); !errors.Is(err, ErrExists) {
		t.Errorf("rename onto existing: %v", err)
	}
	if err := s.Rename(acct, "two", "main"); err != nil {
		t.Fatal(err)
	}
	list, _ := s.List(acct)
	if len(list) != 2 || list[0].Name != "a/../b é" || list[1].Name != "main" || !list[1].Active {
		t.Errorf("list %+v", list)
	}
	sc, name, err := s.Active(acct)
	if sc == nil || name != "main" || err != nil {
		t.Errorf("active: %v %q %v", sc, name, err)
	}
	// A new store on the same directory (a restart) sees the same.
	s2, _ := New(dir, Limits{})
	if _, name, _ := s2.Active(acct); name != "main" {
		t.Errorf("after restart the active script is %q", name)
	}
	if err := s.SetActive(acct, ""); err != nil {
		t.Fatal(err)
	}
	if sc, _, _ := s.Active(acct); sc != nil {
		t.Error("still active after SetActive(\"\")")
	}
	for _, bad := range []string{"", "a\nb", string(make([]byte, 200))} {
		if err := s.Put(acct, bad, []byte("keep;")); !errors.Is(err, ErrBadName) {
			t.Errorf("name %q: %v", bad, err)
		}
	}
	for _, bad := range []string{"../x", ".hidden", "a/b"} {
		if _, err := s.List(bad); !errors.Is(err, ErrBadAcct) {
			t.Errorf("account %q: %v", bad, err)
		}
	}
}
