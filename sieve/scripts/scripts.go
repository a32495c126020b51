// Package scripts keeps each account's Sieve scripts on disk, as
// <dir>/<account>/<name>.sieve with the active one named in
// <dir>/<account>/active, every write atomic and durable. ManageSieve
// edits them; local delivery (sieve/filter) runs the active one.
package scripts

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"mailgate/sieve"
)

// Errors that protocol layers map to replies (RFC 5804 response codes).
var (
	ErrNoScript = errors.New("no such script")               // NONEXISTENT
	ErrActive   = errors.New("the script is active")         // ACTIVE
	ErrExists   = errors.New("a script of that name exists") // ALREADYEXISTS
	ErrBadName  = errors.New("invalid script name")
	ErrBadAcct  = errors.New("invalid account name")
	ErrTooMany  = errors.New("too many scripts") // QUOTA/MAXSCRIPTS
	ErrTooLarge = errors.New("script too large") // QUOTA/MAXSIZE
)

// Limits bound what an account may store.
type Limits struct {
	MaxScripts    int // 0: 16
	MaxScriptSize int // bytes; 0: sieve.DefaultMaxScriptSize
}

// Info describes one stored script.
type Info struct {
	Name   string
	Active bool
}

// Store is every account's scripts.
type Store struct {
	dir string
	lim Limits

	mu    sync.Mutex
	cache map[string]cached // account -> parsed active script
}

type cached struct {
	name   string
	mod    time.Time
	size   int64
	script *sieve.Script
	marker time.Time
}

// New returns a Store under dir (normally <data_dir>/sieve).
func New(dir string, lim Limits) (*Store, error) {
	if lim.MaxScripts <= 0 {
		lim.MaxScripts = 16
	}
	if lim.MaxScriptSize <= 0 {
		lim.MaxScriptSize = sieve.DefaultMaxScriptSize
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return &Store{dir: dir, lim: lim, cache: map[string]cached{}}, nil
}

// Limits returns the store's limits, for HAVESPACE and CAPABILITY.
func (s *Store) Limits() Limits { return s.lim }

// Dir is an account's directory; vacation records live there too.
func (s *Store) Dir(account string) (string, error) {
	a := strings.ToLower(account)
	if a == "" || len(a) > 254 || a[0] == '.' || strings.ContainsAny(a, "/\\\x00") || strings.Contains(a, "..") {
		return "", ErrBadAcct
	}
	return filepath.Join(s.dir, a), nil
}

// CheckName accepts RFC 5804 script names: 1 to 128 characters of UTF-8
// without control characters.
func CheckName(name string) error {
	if name == "" || utf8.RuneCountInString(name) > 128 || !utf8.ValidString(name) {
		return ErrBadName
	}
	for _, r := range name {
		if unicode.IsControl(r) || r == 0x2028 || r == 0x2029 {
			return ErrBadName
		}
	}
	return nil
}

// fileName maps a script name to a safe file name: letters, digits, '-'
// and '_' as they are, every other byte as %XX.
func fileName(name string) string {
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String() + ".sieve"
}

func nameOf(file string) (string, bool) {
	base, ok := strings.CutSuffix(file, ".sieve")
	if !ok || strings.HasPrefix(file, ".") {
		return "", false
	}
	var b []byte
	for i := 0; i < len(base); i++ {
		if base[i] == '%' && i+2 < len(base) {
			var c byte
			if _, err := fmt.Sscanf(base[i+1:i+3], "%02X", &c); err != nil {
				return "", false
			}
			b = append(b, c)
			i += 2
			continue
		}
		b = append(b, base[i])
	}
	return string(b), true
}

func (s *Store) path(account, name string) (string, error) {
	dir, err := s.Dir(account)
	if err != nil {
		return "", err
	}
	if err := CheckName(name); err != nil {
		return "", err
	}
	return filepath.Join(dir, fileName(name)), nil
}

// List returns an account's scripts, sorted by name.
func (s *Store) List(account string) ([]Info, error) {
	dir, err := s.Dir(account)
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	active := s.activeName(dir)
	var out []Info
	for _, e := range entries {
		if name, ok := nameOf(e.Name()); ok && e.Type().IsRegular() {
			out = append(out, Info{Name: name, Active: name == active})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (s *Store) activeName(dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, "active"))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// Get returns a script's source.
func (s *Store) Get(account, name string) ([]byte, error) {
	p, err := s.path(account, name)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNoScript
	}
	return b, err
}

// Check parses a script under the store's size limit; the error is a
// *sieve.Error with line and column, or ErrTooLarge.
func (s *Store) Check(src []byte) error {
	if len(src) > s.lim.MaxScriptSize {
		return ErrTooLarge
	}
	_, err := sieve.Parse(src, s.lim.MaxScriptSize)
	return err
}

// HaveSpace reports whether a script of size bytes may be stored under
// name (RFC 5804 HAVESPACE).
func (s *Store) HaveSpace(account, name string, size int64) error {
	if size > int64(s.lim.MaxScriptSize) {
		return ErrTooLarge
	}
	if _, err := s.path(account, name); err != nil {
		return err
	}
	list, err := s.List(account)
	if err != nil {
		return err
	}
	for _, i := range list {
		if i.Name == name {
			return nil // replacing
		}
	}
	if len(list) >= s.lim.MaxScripts {
		return ErrTooMany
	}
	return nil
}
