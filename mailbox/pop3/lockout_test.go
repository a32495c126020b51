package pop3

import (
	"testing"
	"time"

	"mailgate/authlimit"
)

// TestLoginLockoutAcrossConnections: with a shared limiter, an address
// that failed too often is refused even with the right password, on a
// new connection, until the lockout ends.
func TestLoginLockoutAcrossConnections(t *testing.T) {
	t.Parallel()
	limiter := authlimit.New(authlimit.Options{MaxFailures: 2, Window: time.Minute, Lockout: time.Hour})
	e := startServer(t, func(o *Options) { o.Logins = limiter })
	for range 2 {
		c := e.dialTLS(t) // reads the greeting
		c.send("USER alice")
		c.line()
		c.send("PASS wrong")
		c.expect("-ERR [AUTH] invalid user name or password")
	}
	c := e.dialTLS(t)
	c.send("USER alice")
	c.line()
	c.send("PASS secret")
	c.expect("-ERR [AUTH] too many failed logins from your address or for this account; try again later")
	if !limiter.Locked("127.0.0.1") {
		t.Fatal("127.0.0.1 is not locked after 2 failures")
	}
}
