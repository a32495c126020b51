package imap

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"slices"
	"strings"
	"time"

	goimap "github.com/emersion/go-imap/v2"

	"mailgate/mailbox"
)

// session is one connection's IMAP state.
type session struct {
	srv      *Server
	c        *conn        // the protocol layer, for what ends the connection
	log      *slog.Logger // bound with the session ID and remote address
	account  string
	gc       *guardConn // the accepted connection, for the connection limits
	failures int
	sel      *view // selected folder, or nil
	// raw is the client's TCP connection, watched during long commands
	// (see abandoned); since is when the last look was taken.
	raw   net.Conn
	since time.Time
	// lsub: the List running answers LSUB, not LIST (SUBSCRIBED).
	lsub bool
}

func (s *session) store() *mailbox.Store { return s.srv.opts.Store }

// startLong notes the start of a command that may take long (FETCH,
// SEARCH); abandoned then looks at the connection every 100 ms of it.
func (s *session) startLong() { s.since = time.Now() }

// abandoned reports whether the client has left while a long command
// runs, so the work stops with it (issue 14: a SEARCH over a hostile
// folder ran on for minutes after the client had gone).
func (s *session) abandoned(cmd string) bool {
	if s.raw == nil || time.Since(s.since) < 100*time.Millisecond {
		return false
	}
	s.since = time.Now()
	if !peerGone(s.raw) {
		return false
	}
	s.log.Info("imap command abandoned: the client closed the connection", "command", cmd, "account", s.account)
	return true
}

// errAbandoned answers a command whose client has gone (it will most
// likely never read it).
var errAbandoned = &goimap.Error{
	Type: goimap.StatusResponseTypeNo,
	Code: goimap.ResponseCodeUnavailable,
	Text: "Connection closed by the client; command abandoned",
}

func (s *session) Close() error {
	s.Unselect()
	return nil
}

// Login checks the password through the Authenticator. The protocol
// layer only calls it over TLS (or with AllowInsecureAuth).
func (s *session) Login(username, password string) error {
	s.srv.metrics.commands.WithLabelValues("LOGIN").Inc()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ip, limiter := s.clientIP(), s.srv.opts.Logins
	if limiter != nil && limiter.Refused(ip, username) {
		// No log line: the limiter logs the lockout once, with a count.
		s.srv.metrics.logins.WithLabelValues("locked").Inc()
		return errLoginsLocked
	}
	account, err := s.srv.opts.Auth.Authenticate(ctx, username, password)
	if err == nil && account != "" {
		if limiter != nil {
			limiter.Succeed(ip, username)
		}
		if s.gc != nil && !s.srv.loggedIn(s.gc, account) {
			s.srv.metrics.logins.WithLabelValues("user_ip_limit").Inc()
			return errUserIPLimit
		}
		s.account = account
		s.srv.metrics.logins.WithLabelValues("ok").Inc()
		s.log.Info("imap login", "account", account)
		return nil
	}
	if temporary(err) { // the account directory is down: not a guess
		s.log.Error("imap login unavailable", "err", err)
		return errLoginUnavailable
	}
	s.failures++
	s.srv.metrics.logins.WithLabelValues("failed").Inc()
	s.log.Info("imap login failed", "user", cleanLog(username))
	if limiter != nil {
		limiter.Fail(ip, username)
	}
	if d := s.srv.opts.FailureDelay; d > 0 {
		time.Sleep(d) // slows guessing; this connection's commands wait anyway
	}
	return errAuthFailed
}

var errAuthFailed = &goimap.Error{Type: goimap.StatusResponseTypeNo, Code: goimap.ResponseCodeAuthenticationFailed,
	Text: "Authentication failed"}

// errLoginsLocked answers a login from an address, or to an account,
// locked out by the limiter, without checking the password.
// errLoginUnavailable answers a login that could not be checked (the
// account directory, LDAP, is down).
var errLoginUnavailable = &goimap.Error{
	Type: goimap.StatusResponseTypeNo,
	Code: goimap.ResponseCodeUnavailable,
	Text: "Cannot check passwords right now; try again later",
}

// temporary reports whether a login error says it is temporary.
func temporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

var errLoginsLocked = &goimap.Error{
	Type: goimap.StatusResponseTypeNo,
	Code: goimap.ResponseCodeUnavailable,
	Text: "Too many failed logins from your address or for this account; try again later",
}

// errUserIPLimit answers a good login over MaxUserIPConnections.
var errUserIPLimit = &goimap.Error{
	Type: goimap.StatusResponseTypeNo,
	Code: goimap.ResponseCodeLimit,
	Text: "Too many sessions of this account from your address; close some and try again",
}

// clientIP is the remote address without its port.
func (s *session) clientIP() string {
	if s.gc == nil {
		return ""
	}
	addr := s.gc.RemoteAddr().String()
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}

func cleanLog(s string) string {
	if len(s) > 100 {
		s = s[:100]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// AppendLimit is the APPENDLIMIT advertised; bigger literals close the
// connection (reader.go).
func (s *session) AppendLimit() uint32 { return uint32(min(s.srv.opts.MaxLiteral, 1<<32-1)) }

// imapError turns a store error into a reply that says what to fix;
// anything unexpected is logged and answered generically.
func (s *session) imapError(err error) error {
	var ne *mailbox.NameError
	var qe mailbox.QuotaError
	no := func(code goimap.ResponseCode, text string) error {
		return &goimap.Error{Type: goimap.StatusResponseTypeNo, Code: code, Text: text}
	}
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ne):
		return no(goimap.ResponseCodeCannot, "Mailbox name "+ne.Reason)
	case errors.Is(err, mailbox.ErrNoFolder):
		return no(goimap.ResponseCodeNonExistent, "No such mailbox")
	case errors.Is(err, mailbox.ErrFolderExists):
		return no(goimap.ResponseCodeAlreadyExists, "Mailbox already exists")
	case errors.Is(err, mailbox.ErrInboxRefused):
		return no(goimap.ResponseCodeCannot, "INBOX cannot be deleted")
	case errors.Is(err, mailbox.ErrNoMessage):
		return no(goimap.ResponseCodeNonExistent, "No such message")
	case errors.As(err, &qe):
		if qe.Permanent {
			return no(goimap.ResponseCodeOverQuota, "Message is larger than your whole mailbox quota")
		}
		return no(goimap.ResponseCodeOverQuota, "Mailbox is full; delete some messages and try again")
	}
	s.log.Error("imap command failed", "account", s.account, "err", cleanLog(err.Error()))
	return no(goimap.ResponseCodeServerBug, "Internal error; try again later")
}

func (s *session) Create(name string, options *goimap.CreateOptions) error {
	s.srv.metrics.commands.WithLabelValues("CREATE").Inc()
	return s.imapError(s.store().CreateFolder(s.account, strings.TrimSuffix(name, mailbox.Delimiter)))
}

func (s *session) Delete(name string) error {
	s.srv.metrics.commands.WithLabelValues("DELETE").Inc()
	return s.imapError(s.store().DeleteFolder(s.account, name))
}

func (s *session) Rename(oldName, newName string, options *goimap.RenameOptions) error {
	s.srv.metrics.commands.WithLabelValues("RENAME").Inc()
	return s.imapError(s.store().RenameFolder(s.account, oldName, newName))
}

func (s *session) Subscribe(name string) error {
	s.srv.metrics.commands.WithLabelValues("SUBSCRIBE").Inc()
	return s.imapError(s.store().Subscribe(s.account, name, true))
}

func (s *session) Unsubscribe(name string) error {
	s.srv.metrics.commands.WithLabelValues("UNSUBSCRIBE").Inc()
	err := s.store().Subscribe(s.account, name, false)
	if errors.Is(err, mailbox.ErrBadFolderName) {
		err = nil // nothing by that name can be subscribed
	}
	return s.imapError(err)
}

func (s *session) Namespace() (*goimap.NamespaceData, error) {
	s.srv.metrics.commands.WithLabelValues("NAMESPACE").Inc()
	return &goimap.NamespaceData{Personal: []goimap.NamespaceDescriptor{{Prefix: "", Delim: '/'}}}, nil
}

func (s *session) Status(name string, options *goimap.StatusOptions) (*goimap.StatusData, error) {
	s.srv.metrics.commands.WithLabelValues("STATUS").Inc()
	st, err := s.store().Status(s.account, name)
	if err != nil {
		return nil, s.imapError(err)
	}
	canon, _ := mailbox.CanonicalFolder(name)
	d := statusData(canon, st, options, s.AppendLimit())
	if options.DeletedStorage {
		if d.DeletedStorage, err = s.deletedStorage(canon); err != nil {
			return nil, s.imapError(err)
		}
	}
	return d, nil
}

// deletedStorage is STATUS DELETED-STORAGE (RFC 9208, which QUOTA=RES-STORAGE
// brings): the KiB an EXPUNGE would free, rounded up like the quota usage.
func (s *session) deletedStorage(name string) (*int64, error) {
	snap, err := s.store().Messages(s.account, name)
	if err != nil {
		return nil, err
	}
	var n int64
	for _, m := range snap.Messages {
		if slices.Contains(m.Flags, `\Deleted`) {
			n += m.Size
		}
	}
	kib := (n + 1023) / 1024
	return &kib, nil
}

func statusData(name string, st mailbox.FolderStatus, o *goimap.StatusOptions, limit uint32) *goimap.StatusData {
	d := &goimap.StatusData{Mailbox: name}
	if o.NumMessages {
		d.NumMessages = &st.Messages
	}
	if o.UIDNext {
		d.UIDNext = goimap.UID(st.UIDNext)
	}
	if o.UIDValidity {
		d.UIDValidity = st.UIDValidity
	}
	if o.NumUnseen {
		d.NumUnseen = &st.Unseen
	}
	if o.NumDeleted {
		d.NumDeleted = &st.Deleted
	}
	if o.Size {
		d.Size = &st.Size
	}
	if o.NumRecent {
		d.NumRecent = &st.Recent
	}
	if o.AppendLimit {
		d.AppendLimit = &limit
	}
	if o.HighestModSeq {
		d.HighestModSeq = max(st.HighestModSeq, 1) // 0 is no mod-sequence (condstore.go)
	}
	return d
}
