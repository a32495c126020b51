package imap

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// switchAuth is testAuth whose accounts can be disabled while their
// sessions are open.
type switchAuth struct {
	testAuth
	off atomic.Bool
}

func (a *switchAuth) Active(account string) bool { return !a.off.Load() }

const wantExpired = "* BYE [EXPIRED] Access to this account has ended (disabled or removed)"

// revokeSession runs a server whose Auth can disable alice, rechecking
// waiting sessions every 200 ms, logs alice in and sends cmd, which must
// get the reply ok.
func revokeSession(t *testing.T, cmd, ok string) (*testEnv, *switchAuth, *rawConn) {
	t.Helper()
	auth := &switchAuth{}
	env := startServer(t, func(o *Options) { o.Auth, o.SessionRecheck = auth, 200*time.Millisecond })
	c := loginRaw(t, env)
	c.has(cmd, ok)
	return env, auth, c
}

// closedAfter reads what is left and checks it is the EXPIRED BYE and
// then the end of the connection, within a bound.
func closedAfter(t *testing.T, c *rawConn, within time.Duration) {
	t.Helper()
	c.conn.SetDeadline(time.Now().Add(within))
	if got := strings.TrimRight(c.rest(), "\r\n"); got != wantExpired {
		t.Errorf("after disabling: %q, want %q then the close", got, wantExpired)
	}
}

// TestCommandAfterAccountDisabled: the first command after the account
// is disabled gets * BYE [EXPIRED], no tagged reply, and the connection
// closes; the refusal is counted.
func TestCommandAfterAccountDisabled(t *testing.T) {
	t.Parallel()
	env, auth, c := revokeSession(t, "s SELECT INBOX\r\n", "s OK [READ-WRITE] SELECT completed")
	auth.off.Store(true)
	c.send("f FETCH 1:* FLAGS\r\n")
	closedAfter(t, c, 5*time.Second)
	if n := value(t, env.srv.metrics.closed.WithLabelValues("account_inactive")); n != 1 {
		t.Errorf("mailgate_imap_refusals_total{reason=account_inactive} = %v, want 1", n)
	}
}

// TestIdleEndsWhenAccountDisabled: a session in IDLE gets * BYE
// [EXPIRED] within the recheck interval, without sending anything.
func TestIdleEndsWhenAccountDisabled(t *testing.T) {
	t.Parallel()
	_, auth, c := revokeSession(t, "s SELECT INBOX\r\n", "s OK [READ-WRITE] SELECT completed")
	c.send("i IDLE\r\n")
	if l := c.line(); l != "+ idling" {
		t.Fatalf("IDLE: %q", l)
	}
	time.Sleep(300 * time.Millisecond) // a recheck or more with the account active
	auth.off.Store(true)
	start := time.Now()
	closedAfter(t, c, 3*time.Second)
	if d := time.Since(start); d > time.Second {
		t.Errorf("BYE after %v, want within about 200ms", d)
	}
}

// TestWaitingSessionEndsWhenAccountDisabled: a session waiting between
// commands (here under NOTIFY) ends too, and one whose Auth cannot say
// (no Active method) is left alone.
func TestWaitingSessionEndsWhenAccountDisabled(t *testing.T) {
	t.Parallel()
	_, auth, c := revokeSession(t, "n NOTIFY SET (personal (MessageNew))\r\n", "n OK NOTIFY completed")
	auth.off.Store(true)
	closedAfter(t, c, 3*time.Second)

	plain := startServer(t, func(o *Options) { o.SessionRecheck = 50 * time.Millisecond })
	p := loginRaw(t, plain)
	time.Sleep(200 * time.Millisecond)
	p.has("x NOOP\r\n", "x OK NOOP completed")
}
