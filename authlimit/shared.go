package authlimit

import (
	"time"

	"mailgate/cluster"
)

// Shared keeps the lockouts of every node (cluster.Lockouts on Redis).
// Keys come as ipKey and accountKey make them.
type Shared interface {
	Refused(ip, user string) (bool, error)
	Fail(ip, user string) (cluster.FailResult, error)
	Succeed(ip, user string) error
}

// defaultGrace is how long logins go on against this node's own records
// while the shared store fails, before every login is refused.
const defaultGrace = time.Minute

// sharedRefused asks the shared store; ok is false when the local
// records must answer instead (the store failed, within the grace).
func (a *Limiter) sharedRefused(ip, user string) (refused, ok bool) {
	locked, err := a.opts.Shared.Refused(ipKey(ip), userKey(user))
	if a.sharedUp(err) {
		return locked, true
	}
	if a.pastGrace() {
		return true, true
	}
	return false, false
}

// sharedFail counts a failure in the shared store; ok as in
// sharedRefused.
func (a *Limiter) sharedFail(ip, user string) (locked, ok bool) {
	ip, user = ipKey(ip), userKey(user)
	res, err := a.opts.Shared.Fail(ip, user)
	if !a.sharedUp(err) {
		return false, false
	}
	if res.IPLocked {
		a.log.Warn("login lockout", "client", ip, "failures", a.opts.MaxFailures,
			"window", a.opts.Window.String(), "lockout", a.opts.Lockout.String(), "shared", true)
	}
	if res.AccountLocked {
		a.log.Warn("login lockout", "account", user, "failures", a.opts.MaxAccountFailures,
			"window", a.opts.Window.String(), "lockout", a.opts.Lockout.String(), "shared", true)
	}
	return res.Locked, true
}

// sharedUp notes whether the store answered and reports it; the time of
// the first failure in a row starts the grace.
func (a *Limiter) sharedUp(err error) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err == nil {
		a.sharedDown = time.Time{}
		return true
	}
	if a.sharedDown.IsZero() {
		a.sharedDown = a.opts.Now()
	}
	return false
}

// pastGrace reports whether the store has failed for longer than the
// grace: then logins fail closed.
func (a *Limiter) pastGrace() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return !a.sharedDown.IsZero() && a.opts.Now().Sub(a.sharedDown) >= a.opts.Grace
}

func userKey(user string) string {
	if user == "" {
		return ""
	}
	return accountKey(user)
}
