// Package accounts is who may log in and where their mail goes: the
// accounts file (<data_dir>/accounts.yaml) with password hashes, aliases,
// send-as addresses, quotas and rate limits, and the address rules
// (aliases, catch-all, user+tag) that map a recipient to an account and
// folder. The relay, IMAP, POP3 and local delivery ask it; the mailbox
// store keeps the mail.
package accounts

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.yaml.in/yaml/v3"
)

// Account is one login: a mailbox plus the addresses it may send as.
type Account struct {
	Address string `yaml:"address"`
	// Password is an argon2id (or bcrypt) hash, never a plain password.
	Password string `yaml:"password"`
	// Aliases are further addresses delivered to this account.
	Aliases []string `yaml:"aliases,omitempty"`
	// SendAs lists extra addresses ("noreply@example.com") or whole
	// domains ("@example.com") this account may use as sender.
	SendAs []string `yaml:"send_as,omitempty"`
	// Quota overrides the default storage limit in bytes (0: default).
	Quota int64 `yaml:"quota,omitempty"`
	// RateLimit, when set, replaces the configured sending limit
	// (filters.ratelimit) of this account.
	RateLimit *RateLimit `yaml:"rate_limit,omitempty"`
	// Disabled refuses every password login (SMTP, IMAP, POP3,
	// ManageSieve, the web console) while mail to the account is still
	// delivered: the operator's way to stop a leaked password at once.
	Disabled bool `yaml:"disabled,omitempty"`
}

// RateLimit is an account's own sending budget: Messages and Recipients
// per Period (0: no limit on that count).
type RateLimit struct {
	Messages   int           `yaml:"messages"`
	Recipients int           `yaml:"recipients"`
	Period     time.Duration `yaml:"period"`
}

// Valid reports whether the limit can be used: no negative count, and a
// period when there is a count.
func (r RateLimit) Valid() bool {
	return r.Messages >= 0 && r.Recipients >= 0 && (r.Period > 0 || r.Messages == 0 && r.Recipients == 0)
}

// accountsFile is the on-disk form of <data_dir>/accounts.yaml.
type accountsFile struct {
	Accounts []Account `yaml:"accounts"`
	// Forwards are alias lists: an address delivered to several local or
	// remote addresses.
	Forwards map[string][]string `yaml:"forwards,omitempty"`
	// CatchAll maps a domain to the account that receives mail for
	// unknown addresses in it.
	CatchAll map[string]string `yaml:"catch_all,omitempty"`
}

// ErrAuthFailed is returned for an unknown user or a wrong password; the
// two are not told apart, so logins cannot probe for accounts.
var ErrAuthFailed = errors.New("mailbox: invalid username or password")

// Accounts is the account database. It rereads accounts.yaml when the file
// changes, so `mailgate user add` takes effect in a running server.
type Accounts struct {
	path string
	now  func() time.Time

	mu      sync.RWMutex
	file    accountsFile
	byAddr  map[string]*Account // lower-case address or alias -> account
	stamp   fileStamp
	checked time.Time

	// loadMu makes one reload at a time, so an older read of the file
	// never replaces a newer one.
	loadMu sync.Mutex
	logins *loginCache

	// catchAll comes from the config (mailbox.catch_all); entries in
	// accounts.yaml take precedence.
	catchAll map[string]string
	// onReload is called with the accounts after every (re)load.
	onReload func([]Account)
	// dir is a directory of further accounts (LDAP), nil without one;
	// onFind sees each account found there.
	dir    Directory
	onFind func(Account)
}

// SetCatchAll installs the config's catch-all addresses per domain.
func (a *Accounts) SetCatchAll(m map[string]string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.catchAll = map[string]string{}
	for d, acct := range m {
		a.catchAll[strings.ToLower(d)] = acct
	}
}

// OnReload registers f to be told the accounts after every reload (the
// store uses it to apply per-account quotas), and calls it once now.
func (a *Accounts) OnReload(f func([]Account)) {
	a.mu.Lock()
	a.onReload = f
	a.mu.Unlock()
	f(a.List())
}

// fileStamp tells one version of accounts.yaml from another: an edit
// changes the size or the modification time, a rewrite by rename (`mailgate
// user`, most editors) the inode, even within one tick of the clock.
type fileStamp struct {
	mod   time.Time
	size  int64
	inode uint64
}

func stampOf(st os.FileInfo) fileStamp {
	s := fileStamp{mod: st.ModTime(), size: st.Size()}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		s.inode = sys.Ino
	}
	return s
}

// accountsName is the accounts file inside the data directory.
const accountsName = "accounts.yaml"

// OpenAccounts loads <dataDir>/accounts.yaml (an absent file is empty).
func OpenAccounts(dataDir string) (*Accounts, error) {
	a := &Accounts{path: filepath.Join(dataDir, accountsName), now: time.Now}
	logins, err := newLoginCache(func() time.Time { return a.now() })
	if err != nil {
		return nil, err
	}
	a.logins = logins
	if err := a.reload(); err != nil {
		return nil, err
	}
	return a, nil
}

// Path is the accounts file.
func (a *Accounts) Path() string { return a.path }

// reload rereads the file if it is not the one last read.
func (a *Accounts) reload() error {
	a.loadMu.Lock()
	defer a.loadMu.Unlock()
	st, err := os.Stat(a.path)
	if errors.Is(err, os.ErrNotExist) {
		a.install(accountsFile{}, fileStamp{})
		return nil
	}
	if err != nil {
		return err
	}
	stamp := stampOf(st)
	a.mu.RLock()
	same := stamp == a.stamp && a.byAddr != nil
	a.mu.RUnlock()
	if same {
		return nil
	}
	data, err := os.ReadFile(a.path)
	if err != nil {
		return err
	}
	var f accountsFile
	if err := yaml.Unmarshal(data, &f); err != nil {
		return fmt.Errorf("%s: %v", a.path, err)
	}
	a.install(f, stamp)
	return nil
}

func (a *Accounts) install(f accountsFile, stamp fileStamp) {
	by := map[string]*Account{}
	for i := range f.Accounts {
		acc := &f.Accounts[i]
		by[strings.ToLower(acc.Address)] = acc
		for _, al := range acc.Aliases {
			by[strings.ToLower(al)] = acc
		}
	}
	a.mu.Lock()
	a.file, a.byAddr, a.stamp = f, by, stamp
	hook := a.onReload
	a.mu.Unlock()
	a.logins.forget()
	if hook != nil {
		hook(append([]Account(nil), f.Accounts...))
	}
}

// refresh rereads the file if it changed, at most once a second.
func (a *Accounts) refresh() {
	a.mu.RLock()
	fresh := a.now().Sub(a.checked) < time.Second
	a.mu.RUnlock()
	if fresh {
		return
	}
	a.mu.Lock()
	a.checked = a.now()
	a.mu.Unlock()
	_ = a.reload() // a broken file keeps the last good accounts
}

// Authenticate checks a login. The file is looked at first on every login
// (one stat), so a changed password, a disabled or a removed account is
// refused at once; a good password is then answered from the login cache
// (logincache.go) when it was verified lately.
func (a *Accounts) Authenticate(ctx context.Context, username, password string) (string, error) {
	_ = a.reload() // a broken file keeps the last good accounts
	a.mu.RLock()
	acc := a.byAddr[strings.ToLower(username)]
	a.mu.RUnlock()
	if acc == nil {
		return a.authenticateDirectory(ctx, username, password)
	}
	if !strings.EqualFold(acc.Address, username) || password == "" || acc.Disabled {
		return "", ErrAuthFailed
	}
	if !a.logins.check(acc.Address, password, acc.Password) {
		return "", ErrAuthFailed
	}
	return acc.Address, nil
}

// ForgetLogins drops every remembered login (a config reload): the next
// login of each account checks its password hash again.
func (a *Accounts) ForgetLogins() { a.logins.forget() }

// Get returns a copy of the account for address or alias, as the file
// was at most a second ago.
func (a *Accounts) Get(addr string) (Account, bool) {
	a.refresh()
	return a.get(addr)
}

// Current is Get after one look at the file, as Authenticate does: for
// a decision that must see a disabled or removed account at once (an API
// key's account, asked on every use of the key).
func (a *Accounts) Current(addr string) (Account, bool) {
	_ = a.reload() // a broken file keeps the last good accounts
	return a.get(addr)
}

func (a *Accounts) get(addr string) (Account, bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	acc := a.find(strings.ToLower(addr))
	if acc == nil {
		return Account{}, false
	}
	return *acc, true
}

// List returns all accounts sorted by address.
func (a *Accounts) List() []Account {
	a.refresh()
	a.mu.RLock()
	defer a.mu.RUnlock()
	out := append([]Account(nil), a.file.Accounts...)
	sort.Slice(out, func(i, j int) bool { return out[i].Address < out[j].Address })
	return out
}

// RateLimit returns the account's own sending limit, if it has a valid
// one (an invalid one, written by hand, counts as none).
func (a *Accounts) RateLimit(account string) (RateLimit, bool) {
	acc, ok := a.Get(account)
	if !ok || acc.RateLimit == nil || !acc.RateLimit.Valid() {
		return RateLimit{}, false
	}
	return *acc.RateLimit, true
}

// SendAs reports whether account may use addr as envelope or header sender:
// its own address, an alias, a send_as address, or any address whose
// domain is exactly a send_as "@domain" (not a subdomain, nor a longer
// name that ends in it). Addresses compare without regard to case; one
// that is not local@domain, or names a domain under a route or a second
// "@", is nobody's.
func (a *Accounts) SendAs(account, addr string) bool {
	acc, ok := a.Get(account)
	if !ok || !strings.EqualFold(acc.Address, account) {
		return false
	}
	local, domain := SplitAddress(addr)
	if local == "" || domain == "" || strings.ContainsAny(local, "@:") {
		return false
	}
	addr = strings.ToLower(local) + "@" + domain
	if addr == strings.ToLower(acc.Address) {
		return true
	}
	for _, list := range [][]string{acc.Aliases, acc.SendAs} {
		for _, s := range list {
			s = strings.ToLower(s)
			if s == addr || s == "@"+domain {
				return true
			}
		}
	}
	return false
}
