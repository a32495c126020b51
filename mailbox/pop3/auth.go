package pop3

import (
	"bytes"
	"encoding/base64"
	"errors"
	"net"
	"strings"
	"time"
)

// authAllowed reports whether this connection may carry a password.
func (s *session) authAllowed() bool {
	return s.tls || s.insecureOK
}

// refuseInsecure answers a login attempt on a connection without TLS.
func (s *session) refuseInsecure() {
	if s.srv.opts.TLS != nil {
		s.reply("-ERR [AUTH] login is refused before TLS; send STLS first, or use the POP3S port")
		return
	}
	s.reply("-ERR [AUTH] login is disabled: this server has no TLS certificate to protect passwords")
}

// cmdCAPA lists capabilities (RFC 2449). Login methods appear only where a
// login would be accepted, and STLS only where it can run.
func (s *session) cmdCAPA(arg string) bool {
	s.reply("+OK capability list follows")
	for _, c := range []string{"TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING"} {
		s.reply("%s", c)
	}
	if s.state == stateAuthorization {
		if s.authAllowed() {
			s.reply("USER")
			s.reply("SASL PLAIN")
		}
		if s.srv.opts.TLS != nil && !s.tls {
			s.reply("STLS")
		}
	}
	s.reply("IMPLEMENTATION mailgate")
	s.reply(".")
	return false
}

func (s *session) cmdUSER(arg string) bool {
	if !s.authAllowed() {
		s.refuseInsecure()
		return false
	}
	if arg == "" || strings.ContainsAny(arg, " \x00") {
		s.reply("-ERR syntax: USER <name>")
		return false
	}
	s.user = arg
	s.reply("+OK send PASS")
	return false
}

// cmdPASS takes the rest of the line as the password, so passwords with
// spaces work (RFC 1939 section 7 allows it).
func (s *session) cmdPASS(arg string) bool {
	if !s.authAllowed() {
		s.refuseInsecure()
		return false
	}
	if s.user == "" {
		s.reply("-ERR send USER first")
		return false
	}
	user := s.user
	s.user = "" // RFC 1939: a failed PASS starts the login over
	if arg == "" {
		s.reply("-ERR syntax: PASS <password>")
		return false
	}
	return s.login("user", user, arg)
}

// cmdAUTH implements AUTH PLAIN (RFC 5034, RFC 4616), with the initial
// response on the command line or after a "+ " continuation.
func (s *session) cmdAUTH(arg string) bool {
	if !s.authAllowed() {
		s.refuseInsecure()
		return false
	}
	f := strings.Fields(arg)
	switch {
	case len(f) == 0: // the pre-RFC 5034 mechanism listing some clients send
		s.reply("+OK supported SASL mechanisms follow")
		s.reply("PLAIN")
		s.reply(".")
		return false
	case !strings.EqualFold(f[0], "PLAIN"):
		s.reply("-ERR unsupported SASL mechanism; use AUTH PLAIN")
		return false
	case len(f) > 2:
		s.reply("-ERR syntax: AUTH PLAIN [initial-response]")
		return false
	}
	s.user = ""
	var resp string
	if len(f) == 2 {
		resp = f[1]
	} else {
		s.reply("+ ")
		line, err := s.readLine(maxSASLLine)
		if err != nil {
			s.readFailed(err, "an AUTH response is limited to 1024 octets")
			return true
		}
		resp = line
	}
	if resp == "*" {
		s.reply("-ERR authentication cancelled")
		return false
	}
	authz, user, pass, ok := decodePlain(resp)
	if !ok {
		s.reply("-ERR malformed AUTH PLAIN response; send base64 of: authzid NUL user NUL password")
		return false
	}
	if authz != "" && authz != user {
		s.reply("-ERR [AUTH] logging in as another user is not supported; leave the authorization identity empty")
		return false
	}
	return s.login("plain", user, pass)
}

// decodePlain splits a PLAIN response (RFC 4616). "=" is the empty
// response, which PLAIN cannot use.
func decodePlain(resp string) (authz, user, pass string, ok bool) {
	b, err := base64.StdEncoding.DecodeString(resp)
	if err != nil {
		return "", "", "", false
	}
	parts := bytes.Split(b, []byte{0})
	if len(parts) != 3 || len(parts[1]) == 0 || len(parts[2]) == 0 {
		return "", "", "", false
	}
	return string(parts[0]), string(parts[1]), string(parts[2]), true
}

// login checks the credentials, locks the account and takes the listing
// of its maildrop, then enters the TRANSACTION state.
func (s *session) login(mech, user, pass string) bool {
	ip := s.clientIP()
	if l := s.srv.opts.Logins; l != nil && l.Refused(ip, user) {
		// No log line: the limiter logs the lockout once, with a count.
		s.reply("-ERR [AUTH] too many failed logins from your address or for this account; try again later")
		return true
	}
	account, err := s.srv.opts.Auth.Authenticate(s.ctx, user, pass)
	if errors.Is(err, ErrAuthUnavailable) {
		s.log.Error("pop3 cannot check credentials", "err", err)
		s.reply("-ERR [SYS/TEMP] cannot check passwords right now; try again later")
		return false
	}
	if err != nil {
		if l := s.srv.opts.Logins; l != nil {
			l.Fail(ip, user)
		}
		return s.loginFailed(mech, user, err)
	}
	if l := s.srv.opts.Logins; l != nil {
		l.Succeed(ip, user)
	}
	log := s.log.With("account", account, "mechanism", mech)
	if !s.srv.lock(account) {
		log.Info("pop3 login refused: mailbox in use")
		s.reply("-ERR [IN-USE] mailbox already in use by another POP3 session; try again when it ends")
		return false
	}
	drop, msgs, err := s.open(account)
	if err != nil {
		s.srv.unlock(account)
		log.Error("pop3 cannot open maildrop", "err", err)
		if errors.Is(err, ErrMaildropBroken) {
			s.reply("-ERR [SYS/PERM] mailbox cannot be opened; ask the administrator to check it")
		} else {
			s.reply("-ERR [SYS/TEMP] mailbox temporarily unavailable; try again later")
		}
		return false
	}
	s.account, s.drop, s.msgs = account, drop, msgs
	s.setOpenState("authenticated")
	s.deleted = make([]bool, len(msgs))
	s.state = stateTransaction
	s.log = log
	log.Info("pop3 login", "messages", len(msgs))
	n, size := s.totals()
	s.reply("+OK logged in, %d messages (%d octets)", n, size)
	return false
}

func (s *session) open(account string) (Maildrop, []Message, error) {
	drop, err := s.srv.opts.Store.OpenMaildrop(s.ctx, account)
	if err != nil {
		return nil, nil, err
	}
	msgs, err := drop.List(s.ctx)
	return drop, msgs, err
}

// loginFailed counts and logs a failed login, then answers it after the
// configured delay; after too many failures it ends the session.
func (s *session) loginFailed(mech, user string, err error) bool {
	s.failures++
	s.srv.metrics.authFailures.WithLabelValues(mech).Inc()
	s.log.Warn("pop3 login failed", "user", sanitize(user), "mechanism", mech, "err", err)
	t := time.NewTimer(s.srv.opts.AuthFailureDelay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-s.ctx.Done():
		return true
	}
	if s.failures >= s.srv.opts.MaxAuthFailures {
		s.reply("-ERR [AUTH] invalid user name or password; too many failures, closing connection")
		return true
	}
	s.reply("-ERR [AUTH] invalid user name or password")
	return false
}

// sanitize makes client-supplied text safe for one log field.
func sanitize(v string) string {
	if len(v) > 64 {
		v = v[:64]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, v)
}

// cmdSTLS upgrades the connection (RFC 2595 section 4). Bytes the client
// sent after STLS and before the handshake are thrown away unread: a
// man in the middle could have injected them into the clear stream.
func (s *session) cmdSTLS(arg string) bool {
	switch {
	case s.srv.opts.TLS == nil:
		s.reply("-ERR STLS is not available: this server has no TLS certificate")
		return false
	case s.tls:
		s.reply("-ERR already using TLS")
		return false
	}
	s.reply("+OK begin TLS negotiation")
	if err := s.flush(); err != nil {
		return true
	}
	if n := s.r.Buffered(); n > 0 {
		s.log.Warn("pop3 discarding bytes sent after STLS before the TLS handshake", "bytes", n)
	}
	return !s.startTLS()
}

// clientIP is the remote address without its port, the key of the login
// limiter.
func (s *session) clientIP() string {
	host, _, err := net.SplitHostPort(s.remote)
	if err != nil {
		return s.remote
	}
	return host
}
