package imap

import (
	"testing"
	"time"

	"mailgate/authlimit"
)

// TestLoginLockoutAcrossConnections: with a shared limiter, an address
// that failed too often gets NO [UNAVAILABLE] even with the right
// password, on a new connection.
func TestLoginLockoutAcrossConnections(t *testing.T) {
	t.Parallel()
	limiter := authlimit.New(authlimit.Options{MaxFailures: 2, Window: time.Minute, Lockout: time.Hour})
	env := startServer(t, func(o *Options) { o.Logins = limiter; o.FailureDelay = time.Millisecond })
	for range 2 {
		c := dialRaw(t, env.tlsAddr, true)
		c.line() // greeting
		c.send("a1 LOGIN alice wrong\r\n")
		if l := c.line(); l != "a1 NO [AUTHENTICATIONFAILED] Authentication failed" {
			t.Fatalf("wrong password: %q", l)
		}
	}
	c := dialRaw(t, env.tlsAddr, true)
	c.line()
	c.send("a1 LOGIN alice secret\r\n")
	if l := c.line(); l != "a1 NO [UNAVAILABLE] Too many failed logins from your address or for this account; try again later" {
		t.Fatalf("right password from a locked address: %q", l)
	}
}
