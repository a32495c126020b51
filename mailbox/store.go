// Package mailbox keeps local users' mail: one Maildir++ per account under
// <data_dir>/mail, with a per-folder index that keeps UIDs stable. The
// delivery layer hands messages in through Store.Deliver; the IMAP and
// POP3 servers (mailbox/imap, mailbox/pop3) read and change them through
// the Store, which is the only code that touches the files.
package mailbox

import (
	"cmp"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Errors the store returns; protocol layers map them to replies.
var (
	ErrNoFolder     = errors.New("no such folder")
	ErrFolderExists = errors.New("folder already exists")
	ErrNoMessage    = errors.New("no such message")
	ErrInboxRefused = errors.New("INBOX cannot be deleted")
)

// Options configures a Store.
type Options struct {
	// Dir is the root of all mailboxes, normally <data_dir>/mail.
	Dir string
	// DefaultQuota is each account's limit in bytes; 0 means unlimited.
	// SetQuota overrides it per account.
	DefaultQuota int64
	Logger       *slog.Logger
	Registerer   prometheus.Registerer
	// Now is the clock for INTERNALDATE and file names; nil means
	// time.Now.
	Now func() time.Time
	// HeaderCache is the memory, in bytes, kept for message headers that
	// IMAP FETCH and SEARCH read again and again (see Store.Header);
	// 0 means 32 MiB.
	HeaderCache int
}

// Store is every account's mail. One Store serves the whole process:
// IMAP sessions, POP3 sessions and deliveries on one account are
// serialised by that account's mutex, and watchers are woken on each
// change.
type Store struct {
	dir          string
	defaultQuota int64
	logger       *slog.Logger
	now          func() time.Time
	metrics      *metrics
	names        *uniqueNames
	headers      *headerCache

	mu           sync.Mutex
	accounts     map[string]*account
	quotas       map[string]int64
	lastValidity uint32
	seq          atomic.Uint64 // modseq source for every folder
	ids          atomic.Uint64 // source of message.id
}

// account is one user's Maildir and everything loaded from it.
type account struct {
	store    *Store
	name     string
	dir      string
	mu       sync.Mutex
	folders  map[string]*folder
	usage    int64
	watchers map[chan struct{}]struct{}
	// putMu is held by a put from reserving a UID to publishing the
	// message (append.go); pendingSize is that message's size, counted
	// against the quota meanwhile (guarded by mu).
	putMu       sync.Mutex
	pendingSize int64
}

// New opens (creating if needed) the mail root directory.
func New(opts Options) (*Store, error) {
	if opts.Dir == "" {
		return nil, errors.New("mailbox: Options.Dir is empty")
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, err
	}
	s := &Store{
		dir:          opts.Dir,
		defaultQuota: opts.DefaultQuota,
		logger:       opts.Logger,
		now:          opts.Now,
		metrics:      newMetrics(opts.Registerer),
		names:        newUniqueNames(),
		headers:      newHeaderCache(cmp.Or(opts.HeaderCache, 32<<20)),
		accounts:     map[string]*account{},
		quotas:       map[string]int64{},
	}
	if err := removeOldPool(opts.Dir); err != nil {
		return nil, err
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s, nil
}

// removeOldPool deletes <root>/.free, where versions before 2026-12
// kept the emptied files of expunged messages to reuse them for new ones.
// That reuse let a session that still had an expunged message open read
// it emptied, or read the next delivery's bytes, possibly another
// account's; an expunged message's file is now only unlinked, so an open
// descriptor keeps reading the old bytes. The files there are empty and
// belong to no message. Account names never start with '.', so no
// account can own that directory.
func removeOldPool(root string) error {
	return os.RemoveAll(filepath.Join(root, ".free"))
}

// SetQuota overrides one account's limit in bytes (0: unlimited; a
// negative value returns the account to the default).
func (s *Store) SetQuota(account string, limit int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if limit < 0 {
		delete(s.quotas, account)
		return
	}
	s.quotas[account] = limit
}

func (s *Store) quota(account string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if q, ok := s.quotas[account]; ok {
		return q
	}
	return s.defaultQuota
}

// Usage returns the bytes an account's messages take and its limit (0:
// unlimited).
func (s *Store) Usage(account string) (used, limit int64, err error) {
	a, err := s.lock(account)
	if err != nil {
		return 0, 0, err
	}
	defer a.mu.Unlock()
	return a.usage, s.quota(account), nil
}

// lock returns the account, loaded and locked. The caller unlocks a.mu.
func (s *Store) lock(name string) (*account, error) {
	a, err := s.account(name)
	if err != nil {
		return nil, err
	}
	return a.lockLoaded()
}

// lockNoPut is lock for DELETE and RENAME of a folder: it also holds
// a.putMu, so that no put has a file or an index record on its way into
// a folder that moves (its paths would then name another folder). The
// caller unlocks both.
func (s *Store) lockNoPut(name string) (*account, error) {
	a, err := s.account(name)
	if err != nil {
		return nil, err
	}
	a.putMu.Lock()
	if _, err := a.lockLoaded(); err != nil {
		a.putMu.Unlock()
		return nil, err
	}
	return a, nil
}

// account returns the named account, not loaded yet the first time.
func (s *Store) account(name string) (*account, error) {
	if _, err := accountDir(name); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accounts[name]
	if a == nil {
		a = &account{store: s, name: name, dir: filepath.Join(s.dir, name),
			folders: map[string]*folder{}, watchers: map[chan struct{}]struct{}{}}
		s.accounts[name] = a
	}
	return a, nil
}

// lockLoaded locks a.mu and loads the account if needed.
func (a *account) lockLoaded() (*account, error) {
	a.mu.Lock()
	if a.folders[Inbox] == nil {
		if err := a.load(); err != nil {
			a.mu.Unlock()
			return nil, err
		}
	}
	return a, nil
}

// load creates the account's Maildir and default folders if missing and
// reads every folder, so that quota usage is known.
func (a *account) load() error {
	if err := makeMaildir(a.dir); err != nil {
		return err
	}
	for _, d := range DefaultFolders {
		if err := makeFolderDir(filepath.Join(a.dir, dirName(d.Name))); err != nil {
			return err
		}
	}
	if _, err := os.Stat(filepath.Join(a.dir, subscriptionsName)); errors.Is(err, os.ErrNotExist) {
		names := []string{Inbox}
		for _, d := range DefaultFolders {
			names = append(names, d.Name)
		}
		if err := writeSubscriptions(a.dir, names); err != nil {
			return err
		}
	}
	names, err := a.folderNames()
	if err != nil {
		return err
	}
	a.usage = 0
	for _, n := range names {
		if _, err := a.openFolder(n); err != nil && !errors.Is(err, ErrNoFolder) {
			return err
		}
	}
	return nil
}

// makeFolderDir creates a Maildir++ sub-folder with its marker file.
func makeFolderDir(dir string) error {
	if err := makeMaildir(dir); err != nil {
		return err
	}
	marker := filepath.Join(dir, "maildirfolder")
	if _, err := os.Stat(marker); err == nil {
		return nil
	}
	return os.WriteFile(marker, nil, 0o600)
}

// folderNames lists INBOX and every sub-folder directory.
func (a *account) folderNames() ([]string, error) {
	entries, err := os.ReadDir(a.dir)
	if err != nil {
		return nil, err
	}
	names := []string{Inbox}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if n, ok := folderFromDir(e.Name()); ok {
			names = append(names, n)
		}
	}
	return names, nil
}

// folder returns a loaded, rescanned folder by client-supplied name.
func (a *account) folder(name string) (*folder, error) {
	c, err := CanonicalFolder(name)
	if err != nil {
		return nil, err
	}
	return a.openFolder(c)
}

// folderForPut is folder for a put (append.go): a loaded folder is
// rescanned only if its directories' times changed (rescanForPut).
func (a *account) folderForPut(name string) (*folder, error) {
	c, err := CanonicalFolder(name)
	if err != nil {
		return nil, err
	}
	if f := a.folders[c]; f != nil {
		return f, a.rescanForPut(f)
	}
	return a.openFolder(c)
}

// loadedFolder is folder without the rescan when the folder is already
// loaded: for reading many messages in a row (FETCH, SEARCH), where a
// file that went missing is noticed on open and triggers the rescan.
func (a *account) loadedFolder(name string) (*folder, error) {
	c, err := CanonicalFolder(name)
	if err != nil {
		return nil, err
	}
	if f := a.folders[c]; f != nil {
		return f, nil
	}
	return a.openFolder(c)
}

// nextUIDValidity hands out UIDVALIDITY values: the current time in
// seconds, but always above any value seen before, so a folder deleted
// and re-created in the same second still gets a new one.
func (s *Store) nextUIDValidity() uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := uint32(s.now().Unix())
	if v <= s.lastValidity {
		v = s.lastValidity + 1
	}
	s.lastValidity = v
	return v
}

func (s *Store) seenUIDValidity(v uint32) {
	s.mu.Lock()
	s.lastValidity = max(s.lastValidity, v)
	s.mu.Unlock()
}

// Watch returns a channel that receives a value (coalesced) after any
// change in the account's folders, for IMAP IDLE. Call stop when done.
func (s *Store) Watch(account string) (ch <-chan struct{}, stop func(), err error) {
	a, err := s.lock(account)
	if err != nil {
		return nil, nil, err
	}
	defer a.mu.Unlock()
	c := make(chan struct{}, 1)
	a.watchers[c] = struct{}{}
	return c, func() {
		a.mu.Lock()
		delete(a.watchers, c)
		a.mu.Unlock()
	}, nil
}

// notify wakes every watcher; a.mu is held.
func (a *account) notify() {
	for c := range a.watchers {
		select {
		case c <- struct{}{}:
		default:
		}
	}
}

// cleanText strips CR and LF from text bound for a log line.
func cleanText(s string) string {
	return strings.NewReplacer("\r", " ", "\n", " ").Replace(s)
}
