// Package pop3 is mailgate's POP3 server (RFC 1939, CAPA from RFC 2449,
// STLS from RFC 2595, AUTH PLAIN from RFC 5034). It lets a user download and
// delete the INBOX of their account in the mailbox store; messages it marks
// deleted are expunged from the store only when the client ends the session
// with QUIT.
package pop3

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Message is one message of a maildrop as POP3 lists it.
type Message struct {
	// UID is the message's IMAP UID in INBOX: how the session names it
	// to the Maildrop.
	UID uint32
	// UIDL is its unique-id (RFC 1939 §7): 1 to 70 characters from
	// 0x21 to 0x7E, never given to another message of the maildrop.
	UIDL string
	// Size is the octet count RETR sends: CRLF line ends, before dot-stuffing.
	Size int64
}

// Maildrop is an account's INBOX as one POP3 session sees it.
type Maildrop interface {
	// List returns the messages now in INBOX, oldest first.
	List(ctx context.Context) ([]Message, error)
	// Open returns a message's bytes. A message that another client removed
	// meanwhile gives an error that wraps ErrMessageGone.
	Open(ctx context.Context, uid uint32) (io.ReadCloser, error)
	// Delete expunges messages; UIDs already gone are not an error.
	Delete(ctx context.Context, uids []uint32) error
}

// LoginLimiter throttles password guessing per client IP across
// connections and protocols (*authlimit.Limiter satisfies it).
type LoginLimiter interface {
	// Locked checks the address alone; Refused the address and the
	// account together (user as the client typed it).
	Locked(ip string) bool
	Refused(ip, user string) bool
	Fail(ip, user string) (locked bool)
	Succeed(ip, user string)
}

// Store opens maildrops. OpenMaildrop is called once per login.
type Store interface {
	OpenMaildrop(ctx context.Context, account string) (Maildrop, error)
}

// Authenticator checks a user name and password and returns the account
// whose mailbox the session opens. Any error is a failed login; an error
// wrapping ErrAuthUnavailable is answered as a temporary failure instead.
// If it also has a method Active(account string) bool, each command of a
// logged-in session asks it, and the session ends once it says false
// (the account was disabled or removed).
type Authenticator interface {
	Authenticate(ctx context.Context, username, password string) (account string, err error)
}

var (
	// ErrMessageGone is wrapped by Maildrop.Open for a message expunged by
	// another client since the session listed the maildrop.
	ErrMessageGone = errors.New("pop3: message no longer in the maildrop")
	// ErrAuthUnavailable is wrapped by an Authenticator that could not
	// check the credentials at all (the account database is down).
	ErrAuthUnavailable = errors.New("pop3: authentication temporarily unavailable")
	// ErrMaildropBroken is wrapped by a Store or Maildrop that can never
	// open this maildrop (an account name the store refuses, a corrupt
	// mailbox): the login is answered [SYS/PERM] rather than [SYS/TEMP].
	ErrMaildropBroken = errors.New("pop3: maildrop cannot be opened")
	// ErrServerClosed is returned by Serve after Close.
	ErrServerClosed = errors.New("pop3: server closed")
)

// Default limits, used when the Options field is zero.
const (
	DefaultIdleTimeout      = 10 * time.Minute // RFC 1939 section 3: at least 10 minutes
	DefaultAuthFailureDelay = 2 * time.Second
	DefaultMaxAuthFailures  = 3
	DefaultMaxConnsPerIP    = 20
	DefaultLoginTimeout     = time.Minute
	maxCommandLine          = 255  // RFC 2449 section 4, CRLF included
	maxSASLLine             = 1024 // an AUTH continuation line (RFC 5034 sets no limit)
	tlsHandshakeTimeout     = 30 * time.Second
)

// Options are the server's dependencies and limits.
type Options struct {
	// Logins, if set, refuses logins from an IP that failed too often
	// (shared with SMTP AUTH and IMAP).
	Logins LoginLimiter
	Store  Store
	Auth   Authenticator
	// TLS enables STLS and implicit-TLS listeners; nil disables both.
	TLS        *tls.Config
	Logger     *slog.Logger          // nil: discard
	Registerer prometheus.Registerer // nil: metrics are not registered
	// IdleTimeout closes a session that sends nothing for this long
	// (default DefaultIdleTimeout). It is also the write timeout.
	IdleTimeout time.Duration
	// AllowInsecureAuth offers USER/PASS and AUTH without TLS to loopback
	// clients on every listener Serve runs; ServeListener sets it per
	// listener. Only for loopback set-ups and tests.
	AllowInsecureAuth bool
	// Hostname is named in the greeting (default "mailgate").
	Hostname string
	// AuthFailureDelay is waited before answering a failed login (default
	// DefaultAuthFailureDelay), to slow down password guessing.
	AuthFailureDelay time.Duration
	// LoginTimeout closes a connection that has not logged in this long
	// after it was accepted, however busy it keeps itself (default
	// DefaultLoginTimeout), so idle guessers do not hold the per-address
	// slots.
	LoginTimeout time.Duration
	// MaxAuthFailures closes the connection after this many failed logins
	// (default DefaultMaxAuthFailures).
	MaxAuthFailures int
	// MaxConnsPerIP bounds the open connections from one client address
	// (default DefaultMaxConnsPerIP); one more is answered with -ERR
	// [SYS/TEMP] and closed.
	MaxConnsPerIP int
}

// Server accepts POP3 connections on any number of listeners.
type Server struct {
	opts    Options
	log     *slog.Logger
	metrics *metrics

	ctx    context.Context // cancelled by Close; parent of every session's
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	closed    bool
	listeners map[net.Listener]bool
	conns     map[net.Conn]bool
	perIP     map[string]int  // open connections by client IP
	inUse     map[string]bool // accounts with a logged-in session
}

// New returns a server; it accepts nothing until Serve is called.
func New(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	if opts.AuthFailureDelay <= 0 {
		opts.AuthFailureDelay = DefaultAuthFailureDelay
	}
	if opts.MaxAuthFailures <= 0 {
		opts.MaxAuthFailures = DefaultMaxAuthFailures
	}
	if opts.MaxConnsPerIP <= 0 {
		opts.MaxConnsPerIP = DefaultMaxConnsPerIP
	}
	if opts.LoginTimeout <= 0 {
		opts.LoginTimeout = DefaultLoginTimeout
	}
	opts.Hostname = sanitize(opts.Hostname)
	if opts.Hostname == "" {
		opts.Hostname = "mailgate"
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{
		opts:      opts,
		log:       opts.Logger.With("subsystem", "pop3"),
		metrics:   newMetrics(opts.Registerer),
		ctx:       ctx,
		cancel:    cancel,
		listeners: map[net.Listener]bool{},
		conns:     map[net.Conn]bool{},
		perIP:     map[string]int{},
		inUse:     map[string]bool{},
	}
}

// Listener is how one listener's connections are served.
type Listener struct {
	// ImplicitTLS starts every connection with a TLS handshake (port
	// 995); otherwise it starts in clear and may upgrade with STLS.
	ImplicitTLS bool
	// InsecureAuth offers logins without TLS to this listener's loopback
	// clients (allow_insecure_auth); never to any other client.
	InsecureAuth bool
}

// Serve accepts connections on ln until Close, with the server-wide
// AllowInsecureAuth. It returns ErrServerClosed after Close, or the
// listener's error.
func (s *Server) Serve(ln net.Listener, implicitTLS bool) error {
	return s.ServeListener(ln, Listener{ImplicitTLS: implicitTLS, InsecureAuth: s.opts.AllowInsecureAuth})
}

// ServeListener is Serve with this listener's own settings.
func (s *Server) ServeListener(ln net.Listener, l Listener) error {
	implicitTLS := l.ImplicitTLS
	if implicitTLS && s.opts.TLS == nil {
		return errors.New("pop3: implicit TLS listener needs Options.TLS")
	}
	if !s.track(ln) {
		ln.Close()
		return ErrServerClosed
	}
	defer s.untrack(ln)
	backoff := 5 * time.Millisecond
	for {
		conn, err := ln.Accept()
		if s.isClosed() {
			if conn != nil {
				conn.Close()
			}
			return ErrServerClosed
		}
		if errors.Is(err, net.ErrClosed) {
			return err
		}
		if err != nil {
			// Out of file descriptors and the like: wait, do not give up.
			s.log.Error("pop3 accept failed", "err", err, "retry_in", backoff)
			if !s.pause(backoff) {
				return ErrServerClosed
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 5 * time.Millisecond
		if !s.startConn() {
			conn.Close()
			return ErrServerClosed
		}
		go s.handle(conn, l)
	}
}

// startConn counts a new session goroutine for Close to wait for; false
// once Close has begun, so no goroutine starts after Close waits.
func (s *Server) startConn() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Add(1)
	return true
}

// pause waits d, or less if Close is called; false means closed.
func (s *Server) pause(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.ctx.Done():
		return false
	}
}

// Close stops every listener and ends every session at once. Deletions
// that sessions marked are not applied: only QUIT applies them.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	s.cancel()
	for ln := range s.listeners {
		ln.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

func (s *Server) track(ln net.Listener) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.listeners[ln] = true
	return true
}

func (s *Server) untrack(ln net.Listener) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.listeners, ln)
}

// trackConn registers a connection so Close can end it. It reports
// whether the server is still open and the client IP under its limit.
func (s *Server) trackConn(c net.Conn) (open, underLimit bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false, false
	}
	s.conns[c] = true
	ip := remoteIP(c)
	s.perIP[ip]++
	return true, s.perIP[ip] <= s.opts.MaxConnsPerIP
}

func (s *Server) untrackConn(c net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
	ip := remoteIP(c)
	if s.perIP[ip]--; s.perIP[ip] <= 0 {
		delete(s.perIP, ip)
	}
}

func remoteIP(c net.Conn) string {
	host, _, err := net.SplitHostPort(c.RemoteAddr().String())
	if err != nil {
		return c.RemoteAddr().String()
	}
	return host
}

// lock marks account as held by a session; false if another session has it
// (the -ERR [IN-USE] case of RFC 2449).
func (s *Server) lock(account string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inUse[account] {
		return false
	}
	s.inUse[account] = true
	return true
}

func (s *Server) unlock(account string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.inUse, account)
}
