// Package relay is mailgate's SMTP front end: listeners, TLS, AUTH, relay
// policy and limits on top of go-smtp. Each transaction runs through the
// listener's filters.Chain; accepted messages go to the queue, which has
// them on stable storage before the client hears 250.
package relay

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/prometheus/client_golang/prometheus"

	"mailgate/authlimit"
	"mailgate/config"
	"mailgate/filters"
	"mailgate/queue"
)

// Users is what the relay needs from the account database.
type Users interface {
	Authenticate(ctx context.Context, username, password string) (account string, err error)
	// Expand resolves a local-domain recipient to its targets.
	Expand(addr string, isLocal func(domain string) bool) (targets []string, ok bool)
}

// directoryDown reports whether u reads accounts from a directory that
// failed lately (mailbox.Accounts with LDAP), when an unknown name may
// only be unknown for now.
func directoryDown(u Users) bool {
	d, ok := u.(interface{ Unreachable() bool })
	return ok && d.Unreachable()
}

// temporary reports whether a login could not be checked (the account
// directory is down): not a wrong password, so not counted as one.
func temporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// Queue takes accepted messages; Enqueue returns only once the message is
// durable.
type Queue interface {
	Enqueue(ctx context.Context, env *queue.Envelope, raw []byte) error
	// EnqueueFrom spools head followed by body, read from where it lies
	// (a large message's file), without holding it in memory.
	EnqueueFrom(ctx context.Context, env *queue.Envelope, head []byte, body queue.Body) error
}

// Options are the relay's dependencies.
type Options struct {
	Config *config.Config
	// TLS is used for STARTTLS and implicit TLS; nil disables both.
	TLS   *tls.Config
	Users Users
	Queue Queue
	// SpillDir is where messages past 1 MB are read to (content.go):
	// the spool directory, on the disk that takes them next; "" is the
	// system's temp directory.
	SpillDir string
	// Release, when set, is called once a message that spilled is done
	// with, so its buffers go back to the system soon (gctune.Releaser).
	Release func()
	// Quotas, when set, has full mailboxes refused at RCPT and DATA.
	Quotas     Quotas
	Chains     map[string]*filters.Chain // by listener name; missing = no filters
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Logins throttles failed AUTH per client IP; share one with the IMAP
	// and POP3 servers. nil: one made from the config's auth section.
	Logins *authlimit.Limiter
	Now    func() time.Time
}

// Server runs every SMTP listener of the config.
type Server struct {
	opts    Options
	live    atomic.Pointer[reloadable] // swapped by Reload; see reload below
	log     *slog.Logger
	now     func() time.Time
	metrics *metrics
	auth    *authlimit.Limiter

	mu        sync.Mutex
	conns     map[*smtp.Server]connEntry // one go-smtp server per connection; see conn.go
	listeners []net.Listener
	closing   bool
}

// New builds a relay server; call Serve for each SMTP listener.
func New(o Options) *Server {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	c := o.Config
	if o.Logins == nil {
		o.Logins = authlimit.New(authlimit.Options{
			MaxFailures: c.Auth.MaxFailures, MaxAccountFailures: c.Auth.MaxAccountFailures,
			Window: c.Auth.Window.D(), Lockout: c.Auth.Lockout.D(), Now: o.Now, Logger: o.Logger,
		})
	}
	s := &Server{
		opts: o, log: o.Logger, now: o.Now,
		metrics: newMetrics(o.Registerer),
		auth:    o.Logins,
		conns:   map[*smtp.Server]connEntry{},
	}
	s.Reload(c, o.Chains)
	return s
}

// reloadable is the part of the config that Reload replaces: limits,
// hostname, local domains and filter chains. New connections and
// sessions read it through conf, isLocal and chain; sessions in progress
// keep their go-smtp limits. Connection caps and AUTH throttling are
// fixed at New (a restart changes them).
type reloadable struct {
	cfg    *config.Config
	chains map[string]*filters.Chain
	local  map[string]bool
}

// Reload makes cfg and chains (by listener name) apply to new
// connections without dropping any open one (SIGHUP). Listener addresses
// are not rebound here: that needs a restart.
func (s *Server) Reload(cfg *config.Config, chains map[string]*filters.Chain) {
	r := &reloadable{cfg: cfg, chains: chains, local: map[string]bool{}}
	for _, d := range cfg.LocalDomains {
		r.local[strings.ToLower(strings.TrimSuffix(d, "."))] = true
	}
	s.live.Store(r)
}

func (s *Server) conf() *config.Config { return s.live.Load().cfg }

// isLocal reports whether mail for domain is stored here.
func (s *Server) isLocal(domain string) bool { return s.live.Load().local[strings.ToLower(domain)] }

// Serve accepts SMTP connections for listener l on ln until Shutdown.
// Implicit TLS (submissions) is applied here.
func (s *Server) Serve(l config.Listener, ln net.Listener) error {
	if l.Protocol == config.ProtoSubmissions && s.opts.TLS == nil {
		return errors.New("relay: submissions listener needs TLS")
	}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		ln.Close()
		return nil
	}
	s.listeners = append(s.listeners, ln)
	s.mu.Unlock()

	lim := s.conf().Limits
	cl := limitListener(ln, lim.MaxConnections, lim.MaxConnectionsPerIP, func(reason string) {
		s.metrics.connRejected.WithLabelValues(l.Name, reason).Inc()
	})
	cl.implicitTLS = l.Protocol == config.ProtoSubmissions
	var conns net.Listener = frontListener{cl}
	if l.Protocol == config.ProtoSubmissions {
		conns = tls.NewListener(conns, s.opts.TLS)
	}
	return s.acceptLoop(l, conns)
}

// smtpServer configures go-smtp for listener l. It is called once per
// accepted connection (see conn.go), so it counts the connection too.
func (s *Server) smtpServer(l config.Listener, be *backend) *smtp.Server {
	s.metrics.connections.WithLabelValues(l.Name).Inc()
	cfg := s.conf()
	lim := cfg.Limits
	srv := smtp.NewServer(be)
	srv.Domain = cfg.Hostname
	srv.MaxMessageBytes = int64(lim.MaxMessageSize)
	srv.MaxRecipients = lim.MaxRecipients
	srv.MaxLineLength = lim.MaxLineLength
	srv.ReadTimeout = lim.CommandTimeout.D()
	srv.WriteTimeout = lim.CommandTimeout.D()
	srv.EnableSMTPUTF8 = true
	srv.EnableDSN = true
	srv.EnableREQUIRETLS = true
	// Auth policy is enforced by the session (538 before TLS), so go-smtp
	// must let the AUTH command reach it.
	srv.AllowInsecureAuth = true
	srv.ErrorLog = slogAdapter{s.log}
	if s.opts.TLS != nil && l.Protocol != config.ProtoSubmissions {
		srv.TLSConfig = s.opts.TLS
	}
	return srv
}

// Shutdown stops accepting connections and waits, until ctx ends, for
// sessions in progress to finish; then it closes the rest.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	listeners := append([]net.Listener(nil), s.listeners...)
	conns := make(map[*smtp.Server]net.Conn, len(s.conns))
	var idle []net.Conn
	for srv, e := range s.conns {
		conns[srv] = e.conn
		if !e.be.busy.Load() {
			c := e.conn
			if sc := e.be.conn.Load(); sc != nil {
				c = sc.Conn()
			}
			idle = append(idle, c)
		}
	}
	s.mu.Unlock()
	for _, ln := range listeners {
		ln.Close()
	}
	// A client idle between transactions would hold shutdown until its
	// command timeout: tell it to come back later and hang up now. One
	// that starts MAIL meanwhile gets the same 421 from Mail.
	for _, c := range idle {
		c.SetWriteDeadline(time.Now().Add(time.Second))
		fmt.Fprintf(c, "%d %d.%d.%d %s\r\n", errShuttingDown.Code, errShuttingDown.EnhancedCode[0],
			errShuttingDown.EnhancedCode[1], errShuttingDown.EnhancedCode[2], errShuttingDown.Message)
		if f := frontOf(c); f != nil {
			f.flush()
		}
		closeRead(c)
	}
	var first error
	for srv, c := range conns {
		if err := srv.Shutdown(ctx); err != nil {
			// go-smtp's Close does nothing after Shutdown: close the
			// connection itself.
			c.Close()
			if first == nil {
				first = err
			}
		}
	}
	return first
}

type backend struct {
	srv      *Server
	listener config.Listener
	// busy is set while a transaction is open (MAIL until its end), so
	// Shutdown knows which connections it may close at once.
	busy atomic.Bool
	// conn is the go-smtp connection once a session started; its Conn()
	// is the TLS connection after STARTTLS.
	conn atomic.Pointer[smtp.Conn]
	// front is the connection under go-smtp and its TLS (front.go).
	front *frontConn
	// loggedIn is set by a successful AUTH in any session of the
	// connection; the connection rate limit spares such connections.
	loggedIn atomic.Bool
	// ended tells the chain's admission that the connection ended (see
	// end); nil until admitted.
	ended   func(loggedIn bool)
	endOnce sync.Once
}

// end reports the end of the connection to the chain, once: from the last
// session's Logout, before go-smtp's last reply (221 to QUIT) leaves, so
// that a client's next connection finds its budget up to date; or when
// the connection closes without a session.
func (b *backend) end() {
	b.endOnce.Do(func() {
		if b.ended != nil {
			b.ended(b.loggedIn.Load())
		}
	})
}

// connEntry is one live connection.
type connEntry struct {
	conn net.Conn
	be   *backend
}

// NewSession is called by go-smtp at the first HELO/EHLO (and again after
// STARTTLS, with all state reset).
func (b *backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return b.srv.newSession(b, c)
}

// slogAdapter sends go-smtp's own error log to slog. Its text goes under
// "detail": slog already writes the message as msg, and a line with two
// msg keys is read as one by most log tools (the second wins).
type slogAdapter struct{ log *slog.Logger }

func (a slogAdapter) Printf(format string, v ...any) {
	a.log.Debug("go-smtp", "detail", clean(strings.TrimSpace(fmt.Sprintf(format, v...))))
}
func (a slogAdapter) Println(v ...any) { a.log.Debug("go-smtp", "detail", clean(fmt.Sprint(v...))) }
