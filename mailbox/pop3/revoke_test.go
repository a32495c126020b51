package pop3

import (
	"slices"
	"sync/atomic"
	"testing"
)

// switchAuth is testAuth whose accounts can be disabled while their
// sessions are open.
type switchAuth struct {
	testAuth
	off atomic.Bool
}

func (a *switchAuth) Active(account string) bool { return !a.off.Load() }

// TestCommandAfterAccountDisabled: once the account is disabled, the
// next command of an open session gets -ERR [AUTH] and the connection
// closes without UPDATE: the message marked with DELE before is still
// in the maildrop.
func TestCommandAfterAccountDisabled(t *testing.T) {
	t.Parallel()
	auth := &switchAuth{testAuth: testAuth{"alice": "secret"}}
	e := startServer(t, func(o *Options) { o.Auth = auth })
	uids := []uint32{e.store.deliver(t, "alice", msgA), e.store.deliver(t, "alice", msgB)}
	c := e.login(t, "alice", "secret")
	c.converse(`
		C: DELE 1
		S: +OK message 1 deleted`)
	auth.off.Store(true)
	c.converse(`
		C: STAT
		S: -ERR [AUTH] Access to this account has ended (disabled or removed)`)
	c.expectClosed()
	if got := e.store.uids(t, "alice"); !slices.Equal(got, uids) {
		t.Errorf("after the session ended the store has %v, want %v (nothing deleted)", got, uids)
	}
	auth.off.Store(false)
	c = e.login(t, "alice", "secret") // the maildrop lock was released
	c.converse(`
		C: QUIT
		S: +OK pop.test POP3 server signing off (0 messages deleted)`)
}
