// Package authlimit slows password guessing: it remembers failed logins
// per client IP and per account across connections and protocols (SMTP
// AUTH, IMAP, POP3 share one Limiter), and refuses an IP, or an account
// from addresses it has not logged in from, for a while once it has
// failed too often. The servers consult it before checking a password,
// so a refused attempt costs a map lookup: no password hash, no log
// line (the Limiter logs one line when a lockout starts and one, with
// the count of refused attempts, when it ends).
package authlimit

import (
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"
)

// Options configure a Limiter. Zero values take the defaults below.
type Options struct {
	// MaxFailures from one IP within Window lock that IP out for Lockout.
	MaxFailures int
	// MaxAccountFailures on one account within Window, from any number of
	// IPs, lock the account for Lockout, except from the IPs that logged
	// into it successfully within TrustedFor. Default 4 × MaxFailures.
	MaxAccountFailures int
	Window             time.Duration
	Lockout            time.Duration
	// TrustedFor is how long a good login keeps its IP exempt from its
	// account's lockout (default 30 days), so an attacker guessing one
	// account from many addresses does not lock its owner out.
	TrustedFor time.Duration
	// Now is the clock (nil: time.Now); Logger gets the lockout lines
	// (nil: none).
	Now    func() time.Time
	Logger *slog.Logger
	// Shared, when set, holds the records for every node; this Limiter's
	// own records then answer only while it fails, for Grace (default
	// 1m), after which every login is refused until it answers again
	// (fail closed: an unreachable store must not lift lockouts).
	Shared Shared
	Grace  time.Duration
}

// Limiter remembers failed logins per client IP and per account.
type Limiter struct {
	opts Options
	log  *slog.Logger

	mu        sync.Mutex
	byIP      map[string]*record
	byAccount map[string]*record
	trusted   map[string]map[string]time.Time // account -> IP -> last good login
	sweep     time.Time
	// sharedDown is when the shared store began to fail (zero: it works).
	sharedDown time.Time
}

// record is the failures of one IP or one account.
type record struct {
	failures    []time.Time
	lockedUntil time.Time
	refused     int // attempts refused during the current lockout
}

const (
	defaultTrustedFor = 30 * 24 * time.Hour
	// maxAccounts bounds the failure records of distinct user names (an
	// attacker can invent any number); past it new names are not
	// recorded and only the per-IP limit holds for them.
	maxAccounts = 100_000
	// maxTrustedPerAccount bounds the good IPs remembered per account.
	maxTrustedPerAccount = 16
)

// New returns a Limiter.
func New(o Options) *Limiter {
	o = Defaults(o)
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Limiter{opts: o, log: log, byIP: map[string]*record{},
		byAccount: map[string]*record{}, trusted: map[string]map[string]time.Time{}}
}

// Defaults returns o with its zero values set to the defaults.
func Defaults(o Options) Options {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxFailures <= 0 {
		o.MaxFailures = 5
	}
	if o.MaxAccountFailures <= 0 {
		o.MaxAccountFailures = 4 * o.MaxFailures
	}
	if o.TrustedFor <= 0 {
		o.TrustedFor = defaultTrustedFor
	}
	if o.Grace <= 0 {
		o.Grace = defaultGrace
	}
	return o
}

// Locked reports whether ip may not try to log in now, whoever it
// claims to be; a true answer counts as a refused attempt.
func (a *Limiter) Locked(ip string) bool { return a.Refused(ip, "") }

// Refused reports whether a login from ip as user may not be tried now:
// the IP is locked out, or the account is and ip has not logged into it
// lately. user "" checks the IP only. A refusal is counted for the
// lockout's end line and costs nothing else.
func (a *Limiter) Refused(ip, user string) bool {
	if a.opts.Shared != nil {
		if refused, ok := a.sharedRefused(ip, user); ok {
			return refused
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.opts.Now()
	a.gc(now)
	ip = ipKey(ip)
	if r := a.byIP[ip]; r != nil && a.locked(r, now, "client", ip) {
		r.refused++
		return true
	}
	if user == "" {
		return false
	}
	user = accountKey(user)
	if r := a.byAccount[user]; r != nil && a.locked(r, now, "account", user) && !a.isTrusted(user, ip, now) {
		r.refused++
		return true
	}
	return false
}

// locked reports whether r is locked at now; a lockout found over is
// ended (and logged) here.
func (a *Limiter) locked(r *record, now time.Time, kind, key string) bool {
	if r.lockedUntil.IsZero() {
		return false
	}
	if now.Before(r.lockedUntil) {
		return true
	}
	a.endLockout(r, kind, key)
	return false
}

// endLockout writes the one line that sums a lockout up.
func (a *Limiter) endLockout(r *record, kind, key string) {
	a.log.Info("login lockout ended", kind, key, "refused", r.refused)
	r.lockedUntil, r.refused = time.Time{}, 0
}

// Fail records a failed login from ip as user and reports whether the IP
// or the account is now locked.
func (a *Limiter) Fail(ip, user string) bool {
	if a.opts.Shared != nil {
		if locked, ok := a.sharedFail(ip, user); ok {
			return locked
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.opts.Now()
	a.gc(now)
	ip = ipKey(ip)
	r := a.byIP[ip]
	if r == nil {
		r = &record{}
		a.byIP[ip] = r
	}
	locked := a.fail(r, now, a.opts.MaxFailures, "client", ip)
	if user == "" {
		return locked
	}
	user = accountKey(user)
	ar := a.byAccount[user]
	if ar == nil {
		if len(a.byAccount) >= maxAccounts {
			return locked
		}
		ar = &record{}
		a.byAccount[user] = ar
	}
	if a.fail(ar, now, a.opts.MaxAccountFailures, "account", user) && !a.isTrusted(user, ip, now) {
		locked = true
	}
	return locked
}

// fail adds a failure to r and starts its lockout past max failures
// within the window.
func (a *Limiter) fail(r *record, now time.Time, max int, kind, key string) bool {
	if a.locked(r, now, kind, key) {
		return true
	}
	recent := r.failures[:0]
	for _, t := range r.failures {
		if now.Sub(t) < a.opts.Window {
			recent = append(recent, t)
		}
	}
	r.failures = append(recent, now)
	if len(r.failures) < max {
		return false
	}
	r.lockedUntil = now.Add(a.opts.Lockout)
	a.log.Warn("login lockout", kind, key, "failures", len(r.failures),
		"window", a.opts.Window.String(), "lockout", a.opts.Lockout.String())
	r.failures = nil
	// The end line is written when the lockout is over, also if nobody
	// tries again (with a clock other than time.Now, at the first check
	// after the end, as the timer may find it still running).
	time.AfterFunc(a.opts.Lockout, func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		a.locked(r, a.opts.Now(), kind, key)
	})
	return true
}

// Succeed forgets an IP's failures after a good login, and remembers the
// IP as one the account's owner uses.
func (a *Limiter) Succeed(ip, user string) {
	if a.opts.Shared != nil {
		a.sharedUp(a.opts.Shared.Succeed(ipKey(ip), userKey(user)))
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.opts.Now()
	ip = ipKey(ip)
	if r := a.byIP[ip]; r != nil && r.lockedUntil.IsZero() {
		delete(a.byIP, ip)
	}
	if user == "" {
		return
	}
	user = accountKey(user)
	ips := a.trusted[user]
	if ips == nil {
		ips = map[string]time.Time{}
		a.trusted[user] = ips
	}
	if _, ok := ips[ip]; !ok && len(ips) >= maxTrustedPerAccount {
		dropOldest(ips)
	}
	ips[ip] = now
}

func (a *Limiter) isTrusted(user, ip string, now time.Time) bool {
	t, ok := a.trusted[user][ip]
	return ok && now.Sub(t) < a.opts.TrustedFor
}

func dropOldest(ips map[string]time.Time) {
	var oldest string
	for ip, t := range ips {
		if oldest == "" || t.Before(ips[oldest]) {
			oldest = ip
		}
	}
	delete(ips, oldest)
}

// ipKey is what a client address counts as: an IPv4 address, or an IPv6
// /64 (one host usually holds a whole /64, so an attacker would otherwise
// get a fresh address for every few guesses).
func ipKey(ip string) string {
	p := net.ParseIP(ip)
	if p == nil || p.To4() != nil || p.IsLoopback() {
		return ip
	}
	return p.Mask(net.CIDRMask(64, 128)).String() + "/64"
}

// accountKey is the account a user name counts against: case does not
// make another account.
func accountKey(user string) string { return strings.ToLower(user) }

// gc drops stale records once a minute, keeping memory bounded, and ends
// the lockouts that are over (with their line).
func (a *Limiter) gc(now time.Time) {
	if now.Sub(a.sweep) < time.Minute {
		return
	}
	a.sweep = now
	a.sweepRecords(a.byIP, now, "client")
	a.sweepRecords(a.byAccount, now, "account")
	for user, ips := range a.trusted {
		for ip, t := range ips {
			if now.Sub(t) >= a.opts.TrustedFor {
				delete(ips, ip)
			}
		}
		if len(ips) == 0 {
			delete(a.trusted, user)
		}
	}
}

func (a *Limiter) sweepRecords(m map[string]*record, now time.Time, kind string) {
	for key, r := range m {
		if a.locked(r, now, kind, key) {
			continue
		}
		if n := len(r.failures); n == 0 || now.Sub(r.failures[n-1]) > a.opts.Window {
			delete(m, key)
		}
	}
}
