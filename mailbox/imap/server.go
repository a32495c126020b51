// Package imap serves the mailbox store over IMAP4rev1 and IMAP4rev2,
// with STARTTLS on the plain listener and implicit TLS on the other.
// The protocol layer is our own (conn.go: reader, dispatch, writers);
// every change goes through mailbox.Store, which wakes the other
// sessions of the same account.
package imap

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"mailgate/mailbox"
)

// Authenticator checks a user's password and returns the canonical
// account (such as "alice@example.com"). accounts.Accounts satisfies it.
// If it also has a method Active(account string) bool, a logged-in
// session asks it before each command and every SessionRecheck while it
// waits, and ends once it says false (the account was disabled or
// removed).
type Authenticator interface {
	Authenticate(ctx context.Context, username, password string) (account string, err error)
}

// Options configures a Server.
type Options struct {
	Store *mailbox.Store
	Auth  Authenticator
	// TLS serves STARTTLS on plain listeners and implicit TLS on the
	// others. Without it, LOGIN is only possible with AllowInsecureAuth.
	TLS *tls.Config
	// AllowInsecureAuth permits LOGIN without TLS to loopback clients on
	// every listener Serve runs; ServeListener sets it per listener.
	AllowInsecureAuth bool
	Logger            *slog.Logger
	Registerer        prometheus.Registerer
	// MaxLiteral bounds an APPENDed message; a bigger literal closes the
	// connection with * BYE. Default 50MB.
	MaxLiteral int64
	// IdleTimeout closes a connection silent for this long. Default 30m.
	IdleTimeout time.Duration
	// MaxConnections bounds concurrent connections. Default 500.
	MaxConnections int
	// MaxConnectionsPerIP bounds the connections from one client address,
	// so one address cannot take every slot. Default 50.
	MaxConnectionsPerIP int
	// MaxUserIPConnections bounds the logged-in sessions of one account
	// from one address (Dovecot's mail_max_userip_connections); one more
	// LOGIN gets NO [LIMIT]. Default 10.
	MaxUserIPConnections int
	// LoginTimeout closes a connection that has not logged in this long
	// after it was accepted, however busy it keeps itself. Default 60s.
	LoginTimeout time.Duration
	// MaxLoginFailures per connection before * BYE. Default 3.
	MaxLoginFailures int
	// SessionRecheck is how often a logged-in session waiting for its
	// client (in IDLE, under NOTIFY, between commands) asks Auth whether
	// its account is still active, if Auth can say (an Active(account)
	// bool method); each command asks too. Default 30s.
	SessionRecheck time.Duration
	// Logins, if set, refuses logins from an IP that failed too often
	// (shared with SMTP AUTH and POP3); FailureDelay is waited before
	// answering a failed login, to slow guessing.
	Logins       LoginLimiter
	FailureDelay time.Duration
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

// Server accepts IMAP connections.
type Server struct {
	opts    Options
	logger  *slog.Logger
	metrics *metrics

	mu          sync.Mutex
	listeners   map[net.Listener]struct{}
	conns       map[*guardConn]string // the account logged in on each, or ""
	limits      connLimits
	closed      bool
	wg          sync.WaitGroup
	ids         atomic.Uint64
	commands    map[string]handler // read-only once built
	checkpoints checkpoints        // CHECK and APPEND commits (checkpoint.go)
}

// New returns a Server; call Serve for each listener.
func New(opts Options) *Server {
	if opts.MaxLiteral <= 0 {
		opts.MaxLiteral = 50 << 20
	}
	// APPENDLIMIT is a number of 32 bits.
	opts.MaxLiteral = min(opts.MaxLiteral, 1<<32-1)
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = 30 * time.Minute
	}
	if opts.MaxConnections <= 0 {
		opts.MaxConnections = 500
	}
	if opts.MaxConnectionsPerIP <= 0 {
		opts.MaxConnectionsPerIP = 50
	}
	if opts.MaxUserIPConnections <= 0 {
		opts.MaxUserIPConnections = 10
	}
	if opts.LoginTimeout <= 0 {
		opts.LoginTimeout = time.Minute
	}
	if opts.MaxLoginFailures <= 0 {
		opts.MaxLoginFailures = 3
	}
	if opts.SessionRecheck <= 0 {
		opts.SessionRecheck = 30 * time.Second
	}
	s := &Server{opts: opts, logger: opts.Logger, metrics: newMetrics(opts.Registerer),
		listeners: map[net.Listener]struct{}{}, conns: map[*guardConn]string{},
		limits: connLimits{perIP: map[string]int{}, perUserIP: map[userIP]int{}}, commands: commandTable()}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	return s
}

// Listener is how one listener's connections are served.
type Listener struct {
	// ImplicitTLS starts every connection with a TLS handshake (port 993).
	ImplicitTLS bool
	// InsecureAuth permits LOGIN without TLS to this listener's loopback
	// clients (allow_insecure_auth); never to any other client.
	InsecureAuth bool
}

// Serve accepts connections on ln until Close, with the server-wide
// AllowInsecureAuth.
func (s *Server) Serve(ln net.Listener, implicitTLS bool) error {
	return s.ServeListener(ln, Listener{ImplicitTLS: implicitTLS, InsecureAuth: s.opts.AllowInsecureAuth})
}

// ServeListener is Serve with this listener's own settings.
func (s *Server) ServeListener(ln net.Listener, l Listener) error {
	implicitTLS := l.ImplicitTLS
	if implicitTLS && s.opts.TLS == nil {
		return errors.New("imap: implicit TLS needs Options.TLS")
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return net.ErrClosed
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	for {
		raw, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			delete(s.listeners, ln)
			s.mu.Unlock()
			if closed || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		gc := &guardConn{Conn: raw, ip: hostOf(raw), idle: s.opts.IdleTimeout, done: make(chan struct{})}
		if r := s.track(gc); r != "" {
			s.metrics.connections.WithLabelValues(string(r)).Inc()
			go s.refuse(raw, implicitTLS, r)
			continue
		}
		s.wg.Add(1)
		go s.handle(gc, l)
	}
}

// refuse tells a connection over the limit to go away, in TLS on the
// implicit-TLS listener (a clear-text BYE there would only look like a
// broken handshake), without holding up the accept loop.
func (s *Server) refuse(raw net.Conn, implicitTLS bool, r refusal) {
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(5 * time.Second))
	var c net.Conn = raw
	if implicitTLS {
		tc := tls.Server(raw, s.opts.TLS)
		if tc.Handshake() != nil {
			return
		}
		c = tc
	}
	fmt.Fprintf(c, "* BYE %s\r\n", r.text())
}

// handle runs one connection through the protocol layer (conn.go).
func (s *Server) handle(gc *guardConn, l Listener) {
	implicitTLS := l.ImplicitTLS
	defer s.wg.Done()
	s.metrics.active.Inc()
	defer s.metrics.active.Dec()
	sess := &session{srv: s, gc: gc}
	defer func() {
		if v := recover(); v != nil {
			s.metrics.panics.Inc()
			s.logger.Error("imap connection panicked", "panic", fmt.Sprint(v))
		}
		gc.Close()
		s.untrack(gc)
	}()
	s.metrics.connections.WithLabelValues("accepted").Inc()
	log := s.logger.With("session", fmt.Sprintf("i%x", s.ids.Add(1)), "remote", gc.RemoteAddr().String())
	var conn net.Conn = gc
	if implicitTLS {
		tc := tls.Server(gc, s.opts.TLS)
		tc.SetDeadline(time.Now().Add(30 * time.Second))
		if err := tc.Handshake(); err != nil {
			log.Debug("imap TLS handshake failed", "err", err.Error())
			return
		}
		tc.SetDeadline(time.Time{})
		conn = tc
	}
	sess.log = log
	sess.raw = gc.Conn
	c := newConn(s, sess, gc, conn, implicitTLS, log)
	c.insecureOK = l.InsecureAuth && isLoopback(gc.RemoteAddr())
	sess.c = c
	defer s.watchLogin(c)()
	c.serve()
}

// Close stops every listener and connection.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	var err error
	for ln := range s.listeners {
		err = errors.Join(err, ln.Close())
	}
	for gc := range s.conns {
		gc.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

// guardConn is the raw connection: it caps read deadlines at the idle
// timeout and reports its closing.
type guardConn struct {
	net.Conn
	ip   string // the client's address, for the per-address limits
	idle time.Duration
	once sync.Once
	done chan struct{}
}

func (c *guardConn) SetReadDeadline(t time.Time) error {
	if limit := time.Now().Add(c.idle); t.IsZero() || t.After(limit) {
		t = limit
	}
	return c.Conn.SetReadDeadline(t)
}

func (c *guardConn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.Conn.SetWriteDeadline(t)
}

func (c *guardConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { close(c.done) })
	return err
}

// isLoopback reports whether addr is a client on this machine: a TCP
// loopback address (127.0.0.0/8, ::1) or the other end of a Unix socket.
func isLoopback(addr net.Addr) bool {
	switch a := addr.(type) {
	case *net.TCPAddr:
		return a.IP.IsLoopback()
	case *net.UnixAddr:
		return true
	}
	return false
}
