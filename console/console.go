// Package console is mailgate's web console: server-rendered pages under
// /admin/ for the operator (queue, accounts, overview, domains, config)
// and under /account/ for each user (password, Sieve, API keys, client
// set-up). It reads and changes the server through the small interfaces
// below, which cmd/mailgate implements with the real queue, accounts and
// stores; it keeps one file itself, the charts' samples (sessions live in
// memory).
package console

import (
	"context"
	"log/slog"
	"net/http"
	"time"
)

// Options are what the console works on. Every interface is required
// except Sieve, Keys and DNS (their pages say the feature is off).
type Options struct {
	Auth     Authenticator
	Logins   Throttle
	Admins   func() []string // accounts allowed on /admin/ (http.admins, live)
	Queue    Queue
	Accounts Accounts
	// Directory, when set, lists the accounts of auth.ldap on the
	// accounts page too (read-only).
	Directory Directory
	Keys      Keys
	Sieve     Sieve
	DNS       DNS
	Config    ConfigView
	Status    func() Status   // queue size, disk, certificate now
	Counters  func() Counts   // the in-process totals the charts sample
	Setup     func() []Server // client set-up values (autoconfig)
	Domains   func() []string // local domains
	// ChartFile keeps the overview's samples across restarts
	// (<data_dir>/console-charts.json); "" keeps them in memory only.
	ChartFile string

	// SessionIdle and SessionLifetime end a session; FailureDelay is the
	// pause before answering a wrong password (auth.delay).
	SessionIdle, SessionLifetime, FailureDelay time.Duration
	Now                                        func() time.Time
	Logger                                     *slog.Logger
}

// Authenticator checks an account's password (the accounts database).
type Authenticator interface {
	Authenticate(ctx context.Context, username, password string) (string, error)
}

// Throttle is the login limiter IMAP, POP3 and SMTP AUTH share, so
// guesses in the console count against the other protocols too.
type Throttle interface {
	Refused(ip, user string) bool
	Fail(ip, user string) bool
	Succeed(ip, user string)
}

// Console is the HTTP handler of /admin/, /account/ and /console/.
type Console struct {
	opts     Options
	log      *slog.Logger
	now      func() time.Time
	mux      *http.ServeMux
	sessions *sessions
	pages    *pages
	samples  *sampler
	stopped  chan struct{} // closed when the sampler has saved its last sample
}

// New builds the console; Start runs its sampler.
func New(o Options) (*Console, error) {
	c := &Console{opts: o, log: o.Logger, now: o.Now, mux: http.NewServeMux()}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	p, err := parsePages()
	if err != nil {
		return nil, err
	}
	c.pages = p
	c.sessions = newSessions(o.SessionIdle, o.SessionLifetime, c.now)
	c.samples = newSampler(o.Counters, c.now, o.ChartFile, c.log)
	c.routes()
	return c, nil
}

// Start samples the counters once a minute until ctx ends; Wait then
// returns once the last sample is saved.
func (c *Console) Start(ctx context.Context) {
	c.stopped = make(chan struct{})
	go func() {
		defer close(c.stopped)
		c.samples.run(ctx)
	}()
}

// Wait blocks until the sampler Start began has stopped and saved.
func (c *Console) Wait() {
	if c.stopped != nil {
		<-c.stopped
	}
}

// Paths are the URL prefixes the console answers; mount each on the
// HTTP server.
var Paths = []string{"/admin/", "/account/", "/console/"}

// ServeHTTP answers one console request with the security headers every
// response carries.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	if r.TLS != nil {
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
	if msg := refuseTransport(r); msg != "" {
		http.Error(w, msg, http.StatusForbidden)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	c.mux.ServeHTTP(w, r)
}

// csp allows only the console's own files: no inline script or style,
// no other origin, no framing.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// maxForm bounds a request body: the largest form is a Sieve script.
const maxForm = 256 << 10
