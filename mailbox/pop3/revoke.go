package pop3

// An account disabled or removed while a session of it is open: the
// session ends at its next command, not only the next login, so that an
// attacker on a compromised account loses the maildrop at once.

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

// expired reports whether the session's account has ended; if so the
// client is told (RFC 3206 AUTH: the credentials no longer hold) and the
// session must end without the UPDATE state, so the messages it marked
// deleted stay.
func (s *session) expired() bool {
	if s.state != stateTransaction || s.srv.stillActive(s.account) {
		return false
	}
	s.log.Warn("pop3 session ended: account disabled or removed")
	s.reply("-ERR [AUTH] Access to this account has ended (disabled or removed)")
	return true
}
