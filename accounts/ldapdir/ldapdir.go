// Package ldapdir reads accounts from an LDAP directory (auth.ldap): an
// entry found by the configured filter is an account with its aliases,
// send-as addresses and quota, and a user logs in by binding as that
// entry with their own password. accounts.Accounts asks it for the
// addresses accounts.yaml does not know.
package ldapdir

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-ldap/ldap/v3"

	"mailgate/accounts"
	"mailgate/config"
)

// ErrUnavailable is a login that could not be checked: the directory did
// not answer. It is not a wrong password: it says Temporary.
var ErrUnavailable error = unavailable{}

type unavailable struct{}

func (unavailable) Error() string   { return "ldap: directory unavailable" }
func (unavailable) Temporary() bool { return true }

// maxCache bounds the cached entries (found or not); past it the cache
// starts afresh.
const maxCache = 10_000

// staleFor is how long an expired entry still answers while the
// directory is down, so that mail for known users is not refused.
const staleFor = time.Hour

// Directory looks accounts up in LDAP, with a short cache.
type Directory struct {
	cfg    config.LDAP
	bindPW string
	tls    *tls.Config
	log    *slog.Logger
	now    func() time.Time
	down   atomic.Bool

	mu    sync.Mutex
	cache map[string]entry // lower-case address -> lookup
}

// entry is one lookup: the account, or found false.
type entry struct {
	acc   accounts.Account
	dn    string
	found bool
	until time.Time
}

// New reads the bind password; it does not connect yet.
func New(cfg config.LDAP, log *slog.Logger) (*Directory, error) {
	d := &Directory{cfg: cfg, log: log, now: time.Now, cache: map[string]entry{}}
	if cfg.BindPasswordFile != "" {
		b, err := os.ReadFile(cfg.BindPasswordFile)
		if err != nil {
			return nil, err
		}
		d.bindPW = strings.TrimSpace(string(b))
	}
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, err
	}
	d.tls = &tls.Config{ServerName: u.Hostname(), MinVersion: tls.VersionTLS12, InsecureSkipVerify: cfg.InsecureSkipVerify}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, err
		}
		d.tls.RootCAs = x509.NewCertPool()
		if !d.tls.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("auth.ldap.ca_file %s: no PEM certificate in it", cfg.CAFile)
		}
	}
	return d, nil
}

// Unreachable reports whether the last request to the directory failed,
// so that an unknown address is answered with a temporary error.
func (d *Directory) Unreachable() bool { return d.down.Load() }

// Find returns the account whose address or alias is addr.
func (d *Directory) Find(addr string) (accounts.Account, bool) {
	e, err := d.lookup(addr)
	return e.acc, err == nil && e.found
}

// Authenticate binds as the account's entry with password. The name must
// be the account's address (not an alias), as for accounts.yaml.
func (d *Directory) Authenticate(ctx context.Context, username, password string) (string, error) {
	if password == "" { // an empty password would be an unauthenticated bind
		return "", accounts.ErrAuthFailed
	}
	e, err := d.lookup(username)
	if err != nil {
		return "", ErrUnavailable
	}
	if !e.found || !strings.EqualFold(e.acc.Address, username) {
		return "", accounts.ErrAuthFailed
	}
	conn, err := d.dial()
	if err != nil {
		return "", ErrUnavailable
	}
	defer conn.Close()
	if err := conn.Bind(e.dn, password); err != nil {
		if ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
			return "", accounts.ErrAuthFailed
		}
		d.failed(err)
		return "", ErrUnavailable
	}
	return e.acc.Address, nil
}

// lookup answers from the cache, else asks the directory; while the
// directory is down a recently expired entry still answers.
func (d *Directory) lookup(addr string) (entry, error) {
	key := strings.ToLower(addr)
	now := d.now()
	d.mu.Lock()
	old, cached := d.cache[key]
	d.mu.Unlock()
	if cached && now.Before(old.until) {
		return old, nil
	}
	e, err := d.search(addr)
	if err != nil {
		d.failed(err)
		if cached && now.Before(old.until.Add(staleFor)) {
			return old, nil
		}
		return entry{}, err
	}
	d.ok()
	e.until = now.Add(d.cfg.CacheFor.D())
	d.mu.Lock()
	if len(d.cache) >= maxCache {
		clear(d.cache)
	}
	d.cache[key] = e
	d.mu.Unlock()
	return e, nil
}

func (d *Directory) failed(err error) {
	if !d.down.Swap(true) {
		d.log.Error("ldap directory unavailable", "url", d.cfg.URL, "err", err)
	}
}

func (d *Directory) ok() {
	if d.down.Swap(false) {
		d.log.Info("ldap directory reachable again", "url", d.cfg.URL)
	}
}

// search finds addr's entry with the service account (or anonymously).
func (d *Directory) search(addr string) (entry, error) {
	conn, err := d.dial()
	if err != nil {
		return entry{}, err
	}
	defer conn.Close()
	if d.cfg.BindDN != "" {
		if err := conn.Bind(d.cfg.BindDN, d.bindPW); err != nil {
			return entry{}, err
		}
	}
	c := d.cfg
	attrs := []string{c.AddressAttribute}
	for _, a := range []string{c.AliasAttribute, c.SendAsAttribute, c.QuotaAttribute} {
		if a != "" {
			attrs = append(attrs, a)
		}
	}
	filter := strings.ReplaceAll(c.Filter, "%s", ldap.EscapeFilter(addr))
	req := ldap.NewSearchRequest(c.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 2,
		int(c.Timeout.D().Seconds()), false, filter, attrs, nil)
	res, err := conn.Search(req)
	if ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) || (err == nil && len(res.Entries) > 1) {
		d.log.Warn("ldap filter matches more than one entry; the address is nobody's", "address", addr)
		return entry{}, nil
	}
	if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
		return entry{}, nil
	}
	if err != nil {
		return entry{}, err
	}
	if len(res.Entries) == 0 {
		return entry{}, nil
	}
	return d.toEntry(res.Entries[0]), nil
}

// toEntry reads the configured attributes of one entry.
func (d *Directory) toEntry(le *ldap.Entry) entry {
	c := d.cfg
	acc := accounts.Account{Address: le.GetAttributeValue(c.AddressAttribute)}
	if acc.Address == "" {
		return entry{}
	}
	if c.AliasAttribute != "" {
		acc.Aliases = le.GetAttributeValues(c.AliasAttribute)
	}
	if c.SendAsAttribute != "" {
		acc.SendAs = le.GetAttributeValues(c.SendAsAttribute)
	}
	if c.QuotaAttribute != "" {
		acc.Quota, _ = strconv.ParseInt(le.GetAttributeValue(c.QuotaAttribute), 10, 64)
	}
	return entry{acc: acc, dn: le.DN, found: true}
}

// dial connects (ldaps, or ldap with StartTLS when configured) with the
// timeout on the connection and on every request.
func (d *Directory) dial() (*ldap.Conn, error) {
	t := d.cfg.Timeout.D()
	conn, err := ldap.DialURL(d.cfg.URL, ldap.DialWithDialer(&net.Dialer{Timeout: t}), ldap.DialWithTLSConfig(d.tls))
	if err != nil {
		return nil, err
	}
	conn.SetTimeout(t)
	if d.cfg.StartTLS {
		if err := conn.StartTLS(d.tls); err != nil {
			conn.Close()
			return nil, err
		}
	}
	return conn, nil
}
