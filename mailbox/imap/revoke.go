package imap

import "time"

// An account disabled or removed while its sessions are open: those
// sessions end too, not only the next login. A phone keeps its IDLE
// connection for days, and an attacker on a compromised account would
// keep the mailbox as long.

// byeExpired ends a session whose account has ended (RFC 5530 EXPIRED).
const byeExpired = "[EXPIRED] Access to this account has ended (disabled or removed)"

// activeChecker is what Options.Auth may also be: it says whether a
// session logged in earlier may go on. Without it every login holds for
// its session.
type activeChecker interface {
	Active(account string) bool
}

// stillActive reports whether account, logged in earlier, may go on.
func (s *Server) stillActive(account string) bool {
	a, ok := s.opts.Auth.(activeChecker)
	return !ok || a.Active(account)
}

// checkAccount ends a logged-in session, before its next command runs,
// once its account is disabled or removed (errClosed then).
func (c *conn) checkAccount() error {
	if c.state == stateNotAuth || c.srv.stillActive(c.sess.account) {
		return nil
	}
	c.expired(c.sess.account)
	return c.bye(byeExpired)
}

// expired logs and counts the end of a session whose account ended.
func (c *conn) expired(account string) {
	c.srv.metrics.closed.WithLabelValues("account_inactive").Inc()
	c.log.Warn("imap session ended: account disabled or removed", "account", account)
}

// watchAccount asks every SessionRecheck, until the connection closes,
// whether account is still active, so that a session waiting for its
// client (in IDLE, under NOTIFY, or between commands) ends without
// sending another command. Started at login.
func (s *Server) watchAccount(c *conn, account string) {
	if _, ok := s.opts.Auth.(activeChecker); !ok || c.sess.gc == nil {
		return
	}
	done := c.sess.gc.done
	go func() {
		t := time.NewTicker(s.opts.SessionRecheck)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			if !s.stillActive(account) && c.expireWaiting(account) {
				return
			}
		}
	}()
}

// expireWaiting ends the connection with * BYE if it is waiting for the
// client, so the line cannot fall inside a response; a command running
// is left to finish (checkAccount stops the next one). It reports
// whether the connection is closed.
func (c *conn) expireWaiting(account string) bool {
	c.mu.Lock()
	if c.closed || !c.reading {
		closed := c.closed
		c.mu.Unlock()
		return closed
	}
	c.flushLocked()
	c.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	c.nc.Write([]byte("* BYE " + byeExpired + "\r\n"))
	c.mu.Unlock()
	c.expired(account)
	c.Close()
	return true
}
