// Package relay is mailgate's SMTP front end: listeners, its own SMTP
// protocol layer above TLS (smtpd*.go; go-smtp's types), AUTH, relay
// policy and limits. Each transaction runs through the
// listener's filters.Chain; accepted messages go to the queue, which has
// them on stable storage before the client hears 250.
package relay

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"mailgate/authlimit"
	"mailgate/config"
	"mailgate/filters"
	"mailgate/internal/mailmsg"
	"mailgate/queue"
)

// Users is what the relay needs from the account database.
type Users interface {
	Authenticate(ctx context.Context, username, password string) (account string, err error)
	// Expand resolves a local-domain recipient to its targets.
	Expand(addr string, isLocal func(domain string) bool) (targets []string, ok bool)
}

// directoryDown reports whether u reads accounts from a directory that
// failed lately (accounts.Accounts with LDAP), when an unknown name may
// only be unknown for now.
func directoryDown(u Users) bool {
	d, ok := u.(interface{ Unreachable() bool })
	return ok && d.Unreachable()
}

// stillActive reports whether account, logged in earlier in a session,
// may still send: Users may say (accounts disabled or removed since), or
// else every login holds for its session.
func stillActive(u Users, account string) bool {
	a, ok := u.(interface{ Active(account string) bool })
	return !ok || a.Active(account)
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
	Enqueue(ctx context.Context, env *mailmsg.Envelope, raw []byte) error
	// EnqueueFrom spools head followed by body, read from where it lies
	// (a large message's file), without holding it in memory.
	EnqueueFrom(ctx context.Context, env *mailmsg.Envelope, head []byte, body queue.Body) error
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
	conns     map[*smtpConn]struct{}
	serving   sync.WaitGroup // one per connection in conns
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
		conns:   map[*smtpConn]struct{}{},
	}
	s.Reload(c, o.Chains)
	return s
}

// reloadable is the part of the config that Reload replaces: limits,
// hostname, local domains and filter chains. New connections and
// sessions read it through conf, isLocal and chain. Connection caps and AUTH throttling are
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
	return s.acceptLoop(l, cl)
}

// Shutdown stops accepting connections and waits, until ctx ends, for
// sessions in progress to finish; then it closes the rest.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	listeners := append([]net.Listener(nil), s.listeners...)
	var all, idle []*smtpConn
	for c := range s.conns {
		all = append(all, c)
		if !c.be.busy.Load() {
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
		c.writeNow(errShuttingDown)
		closeRead(c.raw)
	}
	done := make(chan struct{})
	go func() {
		s.serving.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		for _, c := range all {
			c.raw.Close()
		}
		return ctx.Err()
	}
}

type backend struct {
	srv      *Server
	listener config.Listener
	// busy is set while a transaction is open (MAIL until its end), so
	// Shutdown knows which connections it may close at once.
	busy atomic.Bool
	// loggedIn is set by a successful AUTH in any session of the
	// connection; the connection rate limit spares such connections.
	loggedIn atomic.Bool
	// ended tells the chain's admission that the connection ended (see
	// end); nil until admitted.
	ended   func(loggedIn bool)
	endOnce sync.Once
}

// end reports the end of the connection to the chain, once: from the last
// session's Logout, before the last reply (221 to QUIT) leaves, so
// that a client's next connection finds its budget up to date; or when
// the connection closes without a session.
func (b *backend) end() {
	b.endOnce.Do(func() {
		if b.ended != nil {
			b.ended(b.loggedIn.Load())
		}
	})
}
