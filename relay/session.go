package relay

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"mailgate/config"
	"mailgate/filters"
	"mailgate/internal/mailmsg"
)

// session is one SMTP connection's state from EHLO on (the protocol
// layer makes a new one after STARTTLS, so nothing said before TLS
// survives it).
type session struct {
	be       *backend
	srv      *Server
	listener config.Listener
	conn     *smtpConn
	id       string
	// client is who the client is, as it is now: IP, HELO name, TLS and
	// account. It is the very object the filter chain reads, so the
	// filters see AUTH and every EHLO the moment they happen; nothing
	// keeps a copy of it. (STARTTLS gives a new session and a new client.)
	client *filters.Conn
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc

	txn *filters.Txn
	env *mailmsg.Envelope // current transaction, nil before MAIL
	// given are the accepted RCPTs of the transaction, in order, on an
	// LMTP listener only: DATA answers each (lmtp.go).
	given []lmtpRcpt

	rejections int // so far in this session, against limits.max_errors
	// smuggled is set when the last DATA content held "\r\n.\r" without
	// "\n" after it (smuggleTap).
	smuggled bool
}

func newSessionID() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (s *Server) newSession(be *backend, c *smtpConn) (*session, error) {
	l := be.listener
	s.mu.Lock()
	closing := s.closing
	s.mu.Unlock()
	if closing {
		return nil, errShuttingDown
	}
	ss := &session{be: be, srv: s, listener: l, conn: c, id: newSessionID()}
	ss.client = &filters.Conn{SessionID: ss.id, Listener: l.Name, Submission: ss.submission(), Helo: c.Hostname()}
	if ta, ok := c.Conn().RemoteAddr().(*net.TCPAddr); ok {
		ss.client.IP = ta.IP
	}
	if st, ok := c.TLSConnectionState(); ok {
		ss.client.TLS = &st
	}
	ss.ctx, ss.cancel = context.WithCancel(context.Background())
	ss.log = s.log.With("session", ss.id, "listener", l.Name, "client", clientIP(ss.client.IP))
	ss.txn = s.chain(l.Name).Begin(ss.ctx, ss.client)
	s.metrics.sessions.WithLabelValues(l.Name).Inc()
	s.metrics.active.WithLabelValues(l.Name).Inc()
	ss.log.Debug("session start", "helo", mailmsg.Clean(ss.client.Helo), "tls", ss.client.TLS != nil)
	return ss, nil
}

func (s *Server) chain(listener string) *filters.Chain {
	if c := s.live.Load().chains[listener]; c != nil {
		return c
	}
	c, _ := filters.New(s.conf(), config.Listener{Name: listener}, filters.Deps{Logger: s.log})
	return c
}

func (ss *session) submission() bool {
	return ss.listener.Protocol == config.ProtoSubmission || ss.listener.Protocol == config.ProtoSubmissions
}

// fail counts a rejection and turns err into the reply to send.
func (ss *session) fail(stage string, err error) error {
	r := toReply(err, ss.id, ss.log)
	ss.srv.metrics.reject(ss.listener.Name, stage, r.Code)
	ss.log.Info("rejected", "stage", stage, "code", r.Code, "reply", r.Message)
	// A client that keeps failing (probing addresses, guessing) is cut
	// off: the reply says so, and the read side is shut so that the
	// protocol layer ends the session right after sending it.
	if ss.rejections++; ss.rejections >= ss.srv.conf().Limits.MaxErrors {
		ss.log.Info("too many errors; closing connection", "errors", ss.rejections)
		closeRead(ss.conn.Conn())
		return errTooManyErrors
	}
	return r
}

// refuseLocked answers a login the limiter refuses (address or account
// locked out) without checking the password and without a log line of
// its own: the limiter logs each lockout once, with the count of
// refused attempts, so a client retrying in a loop costs a map lookup.
// The attempt still counts towards max_errors.
func (ss *session) refuseLocked() error {
	ss.srv.metrics.reject(ss.listener.Name, "auth", errAuthLocked.Code)
	if ss.rejections++; ss.rejections >= ss.srv.conf().Limits.MaxErrors {
		closeRead(ss.conn.Conn())
		return errTooManyErrors
	}
	return errAuthLocked
}

func codeOf(err error) int {
	if se, ok := err.(*smtp.SMTPError); ok {
		return se.Code
	}
	return 451
}

// authAllowed: AUTH only on submission listeners, and only over TLS unless
// the listener allows plaintext on a loopback address.
func (ss *session) authAllowed() bool {
	return ss.client.TLS != nil || (ss.listener.AllowInsecureAuth && ss.client.IP.IsLoopback())
}

// AuthMechanisms lists what EHLO advertises: nothing before TLS.
func (ss *session) AuthMechanisms() []string {
	if !ss.submission() || !ss.authAllowed() {
		return nil
	}
	return []string{sasl.Plain, sasl.Login}
}

// Auth starts a SASL exchange for mech.
func (ss *session) Auth(mech string) (sasl.Server, error) {
	if !ss.submission() {
		return nil, errAuthNotHere
	}
	if !ss.authAllowed() {
		return nil, ss.fail("auth", errEncryptionRequired)
	}
	if ss.srv.auth.Locked(ss.client.IP.String()) {
		return nil, ss.refuseLocked()
	}
	check := func(identity, username, password string) error {
		return ss.login(mech, identity, username, password)
	}
	switch strings.ToUpper(mech) {
	case sasl.Plain:
		return sasl.NewPlainServer(check), nil
	case sasl.Login:
		return newLoginServer(func(u, p string) error { return check("", u, p) }), nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

// badSASL answers a response that is not base64 or not the mechanism's
// message: the reply r, counted as a failed login from the client's
// address (no account is known), so that garbage cannot be used to
// probe without being throttled.
func (ss *session) badSASL(mech string, r *smtp.SMTPError) error {
	if mech != sasl.Plain && mech != sasl.Login {
		mech = "other"
	}
	ss.srv.metrics.auth.WithLabelValues(mech, "failure").Inc()
	ss.srv.auth.Fail(ss.client.IP.String(), "")
	return ss.fail("auth", r)
}

func (ss *session) login(mech, identity, username, password string) error {
	ip := ss.client.IP.String()
	if ss.srv.auth.Refused(ip, username) {
		return ss.refuseLocked()
	}
	account, err := ss.srv.opts.Users.Authenticate(ss.ctx, username, password)
	if err == nil && (identity == "" || strings.EqualFold(identity, account)) {
		ss.srv.auth.Succeed(ip, username)
		ss.client.Account = account
		ss.be.loggedIn.Store(true)
		ss.srv.metrics.auth.WithLabelValues(mech, "success").Inc()
		ss.log = ss.log.With("account", account)
		ss.log.Info("auth success", "mechanism", mech)
		return nil
	}
	if temporary(err) {
		ss.log.Error("auth unavailable", "mechanism", mech, "err", err)
		return errAuthUnavailable
	}
	ss.srv.metrics.auth.WithLabelValues(mech, "failure").Inc()
	// A stable line for fail2ban: see deploy/fail2ban.
	ss.log.Warn("auth failure", "mechanism", mech, "username", mailmsg.Clean(username))
	locked := ss.srv.auth.Fail(ip, username)
	select { // slow down guessing, unless the client goes away
	case <-time.After(ss.srv.conf().Auth.Delay.D()):
	case <-ss.ctx.Done():
	}
	if locked {
		return errAuthLocked
	}
	return errAuthInvalid
}

// Mail starts a transaction.
func (ss *session) Mail(from string, opts *smtp.MailOptions) error {
	if ss.srv.isClosing() {
		// Shutdown drains: a transaction in progress finishes, a new one
		// is refused and the session ends, so SIGTERM is not held up by
		// a client that keeps sending on one connection.
		closeRead(ss.conn.Conn())
		return errShuttingDown
	}
	if ss.client.Account != "" && !stillActive(ss.srv.opts.Users, ss.client.Account) {
		// Disabling a compromised application's account must stop it
		// now, not when its connection ends: the session is logged out.
		ss.log.Warn("session logged out: account disabled or removed")
		ss.client.Account = ""
		return ss.fail("mail", errAccountInactive)
	}
	if ss.submission() && ss.client.Account == "" {
		return ss.fail("mail", errAuthRequired)
	}
	if from != "" && !plausibleAddress(from) {
		return ss.fail("mail", errBadAddress)
	}
	if err := ss.txn.Mail(ss.ctx, from); err != nil {
		return ss.fail("mail", err)
	}
	ss.be.busy.Store(true)
	ss.env = &mailmsg.Envelope{
		From: from, Received: ss.srv.now(), ClientIP: clientIP(ss.client.IP), Helo: mailmsg.Clean(ss.client.Helo),
		Listener: ss.listener.Name, Account: ss.client.Account,
		UTF8: opts.UTF8, EightBit: opts.Body == smtp.Body8BitMIME,
		Ret: string(opts.Return), EnvID: opts.EnvelopeID, RequireTLS: opts.RequireTLS,
	}
	return nil
}

// Rcpt applies the relay policy, then the filters, to one recipient.
func (ss *session) Rcpt(to string, opts *smtp.RcptOptions) error {
	if ss.env == nil {
		return ss.fail("rcpt", reply(503, 5, 5, 1, "Send MAIL FROM first"))
	}
	targets, err := ss.route(to)
	if err == nil {
		err = ss.checkFull(to, targets)
	}
	if err != nil {
		return ss.fail("rcpt", err)
	}
	if err := ss.txn.Rcpt(ss.ctx, to); err != nil {
		return ss.fail("rcpt", err)
	}
	var notify []string
	for _, n := range opts.Notify {
		notify = append(notify, string(n))
	}
	orcpt := ""
	if opts.OriginalRecipient != "" {
		orcpt = string(opts.OriginalRecipientType) + ";" + opts.OriginalRecipient
	}
	for _, t := range targets {
		if ss.hasRecipient(t) {
			continue // RCPT twice, or an alias of one already given: deliver once
		}
		r := mailmsg.Recipient{Addr: t, Notify: notify, ORCPT: orcpt}
		if !strings.EqualFold(t, to) {
			r.Orig = to
		}
		ss.env.Recipients = append(ss.env.Recipients, r)
	}
	if isLMTP(ss.listener) {
		ss.given = append(ss.given, lmtpRcpt{addr: to, targets: targets})
	}
	return nil
}

func (ss *session) hasRecipient(addr string) bool {
	for _, r := range ss.env.Recipients {
		if strings.EqualFold(r.Addr, addr) {
			return true
		}
	}
	return false
}

// route decides whether to: local recipients must exist; others need an
// authenticated client (no open relay).
func (ss *session) route(to string) ([]string, error) {
	local, domain := splitAddr(to)
	if local == "" || domain == "" {
		return nil, errBadAddress
	}
	if strings.ContainsAny(local, "@%!") || strings.HasPrefix(domain, "[") {
		if ss.client.Account == "" {
			return nil, errAddressTrick
		}
		if strings.ContainsAny(local, "@") {
			return nil, errBadAddress
		}
	}
	if ss.srv.isLocal(domain) {
		targets, ok := ss.srv.opts.Users.Expand(to, ss.srv.isLocal)
		if !ok && directoryDown(ss.srv.opts.Users) {
			return nil, errDirectoryDown
		}
		if !ok {
			return nil, errNoSuchUser
		}
		return targets, nil
	}
	if ss.client.Account == "" {
		return nil, errRelayDenied
	}
	return []string{to}, nil
}

// Reset ends the current transaction. The protocol layer also calls it
// for an EHLO or HELO after the first, having taken the new name: from
// here on the filters and the Received field see that name.
func (ss *session) Reset() {
	ss.client.Helo = ss.conn.Hostname()
	ss.be.busy.Store(false)
	ss.env, ss.given = nil, nil
	if ss.txn != nil {
		ss.txn.Reset()
	}
}

// Logout ends the session: at STARTTLS (which starts a new one on the
// same connection), or when the connection ends.
func (ss *session) Logout() error {
	if ss.txn != nil {
		ss.txn.Close()
	}
	if _, nowTLS := ss.conn.TLSConnectionState(); !nowTLS || ss.client.TLS != nil {
		ss.be.end() // not STARTTLS: the connection is ending
	}
	ss.cancel()
	ss.srv.metrics.active.WithLabelValues(ss.listener.Name).Dec()
	return nil
}

// clientIP is ip as text, and "" for a client on a UNIX socket (an MTA
// in front of an LMTP listener), which has no address.
func clientIP(ip net.IP) string {
	if ip == nil {
		return ""
	}
	return ip.String()
}

func splitAddr(addr string) (local, domain string) {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return addr, ""
	}
	return addr[:i], addr[i+1:]
}

func plausibleAddress(a string) bool {
	local, domain := splitAddr(a)
	return local != "" && domain != "" && !strings.ContainsAny(a, " \t\r\n<>")
}
