// Package authlimit slows password guessing: it remembers failed logins
// per client IP across connections and protocols (SMTP AUTH, IMAP, POP3
// share one Limiter), and refuses an IP for a while once it has failed too
// often. The servers consult it before checking a password.
package authlimit

import (
	"sync"
	"time"
)

// Limiter remembers failed logins per client IP: past maxFailures within
// window the IP is refused until lockout ends.
type Limiter struct {
	maxFailures int
	window      time.Duration
	lockout     time.Duration
	now         func() time.Time

	mu    sync.Mutex
	byIP  map[string]*authRecord
	sweep time.Time
}

type authRecord struct {
	failures    []time.Time
	lockedUntil time.Time
}

// New returns a Limiter; now is the clock (nil: time.Now).
func New(max int, window, lockout time.Duration, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{maxFailures: max, window: window, lockout: lockout, now: now, byIP: map[string]*authRecord{}}
}

// Locked reports whether ip may not try to log in now.
func (a *Limiter) Locked(ip string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	r := a.byIP[ip]
	return r != nil && a.now().Before(r.lockedUntil)
}

// Fail records a failed login and reports whether the IP is now locked.
func (a *Limiter) Fail(ip string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	a.gc(now)
	r := a.byIP[ip]
	if r == nil {
		r = &authRecord{}
		a.byIP[ip] = r
	}
	recent := r.failures[:0]
	for _, t := range r.failures {
		if now.Sub(t) < a.window {
			recent = append(recent, t)
		}
	}
	r.failures = append(recent, now)
	if len(r.failures) >= a.maxFailures {
		r.lockedUntil = now.Add(a.lockout)
		r.failures = nil
		return true
	}
	return false
}

// Succeed forgets an IP's failures after a good login.
func (a *Limiter) Succeed(ip string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if r := a.byIP[ip]; r != nil && !a.now().Before(r.lockedUntil) {
		delete(a.byIP, ip)
	}
}

// gc drops stale records once a minute, keeping memory bounded.
func (a *Limiter) gc(now time.Time) {
	if now.Sub(a.sweep) < time.Minute {
		return
	}
	a.sweep = now
	for ip, r := range a.byIP {
		last := r.lockedUntil
		if n := len(r.failures); n > 0 && r.failures[n-1].After(last) {
			last = r.failures[n-1]
		}
		if now.Sub(last) > a.window && now.After(r.lockedUntil) {
			delete(a.byIP, ip)
		}
	}
}
