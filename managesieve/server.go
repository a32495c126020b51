// Package managesieve is mailgate's ManageSieve server (RFC 5804): users
// log in (AUTHENTICATE PLAIN, after STARTTLS) and list, upload, check,
// activate, rename and delete the Sieve scripts that local delivery runs
// for their account. Scripts live in sieve/scripts; a script that does
// not parse is refused with its line and column.
package managesieve

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"mailgate/sieve/scripts"
)

// Scripts is the script store; *scripts.Store implements it.
type Scripts interface {
	List(account string) ([]scripts.Info, error)
	Get(account, name string) ([]byte, error)
	Put(account, name string, src []byte) error
	Check(src []byte) error
	SetActive(account, name string) error
	Delete(account, name string) error
	Rename(account, from, to string) error
	HaveSpace(account, name string, size int64) error
	Limits() scripts.Limits
}

// Authenticator checks a login and returns the account.
type Authenticator interface {
	Authenticate(ctx context.Context, username, password string) (account string, err error)
}

// LoginLimiter throttles password guessing per client IP across
// protocols (*authlimit.Limiter, shared with SMTP, IMAP and POP3).
type LoginLimiter interface {
	Locked(ip string) bool
	// Refused also holds an account locked after guesses from many IPs.
	Refused(ip, user string) bool
	Fail(ip, user string) (locked bool)
	Succeed(ip, user string)
}

// Options are the server's dependencies and limits.
type Options struct {
	Scripts Scripts
	Auth    Authenticator
	Logins  LoginLimiter
	// TLS enables STARTTLS; without it no login is possible unless
	// AllowInsecureAuth.
	TLS *tls.Config
	// Capabilities is the SIEVE capability string's extensions.
	Capabilities []string
	// MaxRedirects is announced as MAXREDIRECTS.
	MaxRedirects int
	// AllowInsecureAuth offers AUTHENTICATE without TLS (loopback tests).
	AllowInsecureAuth bool
	Logger            *slog.Logger
	Registerer        prometheus.Registerer
	// IdleTimeout closes a silent connection (default 10 minutes).
	IdleTimeout time.Duration
	// AuthFailureDelay is waited before answering a failed login.
	AuthFailureDelay time.Duration
	// MaxConnections bounds open connections (default 200).
	MaxConnections int
}

// Limits of the protocol layer.
const (
	defaultIdleTimeout = 10 * time.Minute
	maxLine            = 8 << 10 // a command line without its literals
	maxAuthFailures    = 3       // per connection; then it is closed
	tlsHandshake       = 30 * time.Second
)

// Server accepts ManageSieve connections.
type Server struct {
	opts    Options
	log     *slog.Logger
	metrics *metrics

	mu     sync.Mutex
	closed bool
	lns    map[net.Listener]bool
	conns  map[net.Conn]bool
	wg     sync.WaitGroup
}

// New returns a server; Serve starts it on a listener.
func New(o Options) *Server {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = defaultIdleTimeout
	}
	if o.MaxConnections <= 0 {
		o.MaxConnections = 200
	}
	return &Server{opts: o, log: o.Logger.With("subsystem", "managesieve"), metrics: newMetrics(o.Registerer),
		lns: map[net.Listener]bool{}, conns: map[net.Conn]bool{}}
}

// ErrServerClosed is returned by Serve after Close.
var ErrServerClosed = errors.New("managesieve: server closed")

// Serve accepts connections on ln until Close.
func (s *Server) Serve(ln net.Listener) error {
	if !s.track(ln, true) {
		ln.Close()
		return ErrServerClosed
	}
	defer s.track(ln, false)
	backoff := 5 * time.Millisecond
	for {
		c, err := ln.Accept()
		if err != nil {
			if s.isClosed() || errors.Is(err, net.ErrClosed) {
				return ErrServerClosed
			}
			s.log.Error("managesieve accept failed", "err", err)
			time.Sleep(backoff)
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 5 * time.Millisecond
		open, under := s.trackConn(c)
		if !open {
			c.Close()
			return ErrServerClosed
		}
		go func() {
			defer s.untrackConn(c)
			if !under {
				s.metrics.refused.Inc()
				c.SetWriteDeadline(time.Now().Add(5 * time.Second))
				c.Write([]byte("BYE (TRYLATER) \"Too many connections; try again later.\"\r\n"))
				c.Close()
				return
			}
			s.handle(c)
		}()
	}
}

// Close stops the listeners and ends every session.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	for ln := range s.lns {
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

func (s *Server) track(ln net.Listener, on bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if on && s.closed {
		return false
	}
	if on {
		s.lns[ln] = true
	} else {
		delete(s.lns, ln)
	}
	return true
}

func (s *Server) trackConn(c net.Conn) (open, under bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false, false
	}
	s.wg.Add(1)
	s.conns[c] = true
	return true, len(s.conns) <= s.opts.MaxConnections
}

func (s *Server) untrackConn(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.wg.Done()
}

func remoteIP(c net.Conn) string {
	host, _, err := net.SplitHostPort(c.RemoteAddr().String())
	if err != nil {
		return c.RemoteAddr().String()
	}
	return host
}
