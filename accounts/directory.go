package accounts

import "context"

// Directory is a second source of accounts besides accounts.yaml, such
// as LDAP (accounts/ldapdir). accounts.yaml answers first; the directory
// is asked for the names it does not know.
type Directory interface {
	// Find returns the account whose address or alias is addr.
	Find(addr string) (Account, bool)
	// Authenticate checks a login; ErrAuthFailed for a wrong one.
	Authenticate(ctx context.Context, username, password string) (string, error)
	// Unreachable reports whether the directory failed lately, so that
	// an unknown address gets a temporary error, not a permanent one.
	Unreachable() bool
}

// SetDirectory adds a directory of accounts; onFind, if not nil, is
// called with every account found there (to apply its quota).
func (a *Accounts) SetDirectory(d Directory, onFind func(Account)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.dir, a.onFind = d, onFind
}

// Unreachable reports whether the directory, if any, failed lately:
// an address unknown now may be known once it answers again.
func (a *Accounts) Unreachable() bool {
	a.mu.RLock()
	d := a.dir
	a.mu.RUnlock()
	return d != nil && d.Unreachable()
}

// find is the account of a lower-case address or alias: from
// accounts.yaml, else from the directory. Called with a.mu held (read).
func (a *Accounts) find(key string) *Account {
	if acc := a.byAddr[key]; acc != nil {
		return acc
	}
	if a.dir == nil {
		return nil
	}
	acc, ok := a.dir.Find(key)
	if !ok {
		return nil
	}
	if a.onFind != nil {
		a.onFind(acc)
	}
	return &acc
}

// authenticateDirectory checks a login the accounts file does not know.
func (a *Accounts) authenticateDirectory(ctx context.Context, username, password string) (string, error) {
	a.mu.RLock()
	d := a.dir
	a.mu.RUnlock()
	if d == nil {
		return "", ErrAuthFailed
	}
	return d.Authenticate(ctx, username, password)
}
