package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"mailgate/accounts"
	"mailgate/accounts/ldapdir"
	"mailgate/api"
	"mailgate/authlimit"
	"mailgate/bounces"
	"mailgate/certs"
	"mailgate/cluster"
	"mailgate/config"
	"mailgate/console"
	"mailgate/delivery"
	"mailgate/filters"
	"mailgate/internal/gctune"
	"mailgate/internal/mailmsg"
	"mailgate/mailbox"
	"mailgate/mailbox/imap"
	"mailgate/mailbox/pop3"
	"mailgate/metrics"
	"mailgate/queue"
	"mailgate/relay"
	"mailgate/resolver"
	"mailgate/sieve/scripts"
	"mailgate/srs"
	"mailgate/suppression"
	"mailgate/web"
	"mailgate/webhook"
)

// app is the running server's object graph, built in order by start and
// torn down in reverse by stop.
type app struct {
	cfg      *config.Config
	cfgPath  string // "" for the embedded default
	log      *slog.Logger
	level    *slog.LevelVar // log.level, changed by a reload
	reg      *prometheus.Registry
	accounts *accounts.Accounts
	ldap     *ldapdir.Directory // auth.ldap's accounts, nil without
	certs    *certs.Manager
	tls      *tls.Config
	resolver *net.Resolver
	store    *mailbox.Store
	router   *delivery.Router
	srs      *srs.Rewriter // SRS keys, shared by delivery (rewrite) and relay (bounces back)
	queue    *queue.Queue
	release  *gctune.Releaser // memory back to the system after large messages
	relay    *relay.Server
	http     *web.Server
	console  *console.Console              // the web console, on the http and api listeners
	keys     *api.Keys                     // API keys: HTTP API and SMTP AUTH
	suppress *suppression.List             // recipients that bounced hard, per account
	webhooks *webhook.Dispatcher           // delivery events to the accounts' URLs
	tracker  *bounces.Tracker              // signed envelope IDs, to match bounce reports by mail
	apiChain atomic.Pointer[filters.Chain] // the filter chain the HTTP API runs

	sieveScripts *scripts.Store
	reports      reports

	redis        *cluster.Redis // shared limits and lockouts; nil on one node
	rateLimits   *filters.RateLimits
	loginLimiter *authlimit.Limiter
	process      *metrics.Process
	listening    listenerSet
	live         atomic.Pointer[config.Config] // the config after the last good reload
	errc         chan error
	stops        []func(ctx context.Context)
}

func serveCommand(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := configFlag(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, ok := loadConfig(*cfgPath, stderr)
	if !ok {
		return 1
	}
	gctune.Start(gcHeadroom)
	// Signals are caught before "ready" is logged, so a SIGTERM sent as
	// soon as the server says it is ready is a clean shutdown, not a kill.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)
	a := &app{cfg: cfg, cfgPath: *cfgPath, level: new(slog.LevelVar), errc: make(chan error, 16), release: gctune.NewReleaser(time.Second)}
	a.log = newLogger(cfg.Log, a.level, stderr)
	a.live.Store(cfg)
	if err := a.start(*cfgPath == ""); err != nil {
		a.log.Error("start failed", "err", err)
		a.stop(context.Background())
		return 1
	}
	code := a.wait(sigs)
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	a.stop(ctx)
	a.log.Info("stopped")
	return code
}

// gcHeadroom is how far above the live heap the collector lets the heap
// grow (internal/gctune): with a live heap of a few megabytes, GOGC=100
// collected 50 times a second under load (+3-12% messages/s in paired
// bench/compare runs at 4 KB c=20 with the collector run less often).
const gcHeadroom = 32 << 20

// shutdownTimeout bounds SIGTERM: SMTP transactions in progress and
// deliveries in flight get this long to finish before connections are
// closed (an unacknowledged message is then simply not acknowledged).
const shutdownTimeout = 30 * time.Second

// newLogger writes text or JSON lines (log.format) to w; level follows
// log.level and can be changed by a reload.
func newLogger(c config.Log, level *slog.LevelVar, w io.Writer) *slog.Logger {
	level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func (a *app) start(embedded bool) error {
	if err := os.MkdirAll(a.cfg.DataDir, 0o700); err != nil {
		return err
	}
	a.reg = prometheus.NewRegistry()
	a.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	a.resolver = resolver.New(a.cfg.Delivery.DNS)
	steps := []func(bool) error{a.startAccounts, a.startCluster, a.startTLS, a.startProcess, a.startStore, a.startDirectory, a.startHTTP, a.startWebhooks, a.startQueue, a.startReports, a.startRelay, a.startConsole, a.startAPI, a.startPOP3, a.startIMAP, a.startManageSieve, a.startACME}
	for _, step := range steps {
		if err := step(embedded); err != nil {
			return err
		}
	}
	a.log.Info("ready", "hostname", a.cfg.Hostname, "data_dir", a.cfg.DataDir, "config", a.cfg.File, "pid", os.Getpid())
	return nil
}

func (a *app) startAccounts(embedded bool) error {
	accts, err := accounts.OpenAccounts(a.cfg.DataDir)
	if err != nil {
		return err
	}
	a.accounts = accts
	if a.keys, err = api.OpenKeys(a.cfg.DataDir); err != nil {
		return err
	}
	if a.suppress, err = suppression.Open(a.cfg.DataDir); err != nil {
		return err
	}
	if !embedded || len(accts.List()) > 0 || len(a.cfg.LocalDomains) == 0 {
		return nil
	}
	// First start on the embedded default: make a login so a newcomer can
	// send mail at once. The password is shown this once, never stored.
	addr := "postmaster@" + a.cfg.LocalDomains[0]
	pw := randomPassword()
	if err := accts.Add(accounts.Account{Address: addr}, pw); err != nil {
		return err
	}
	a.log.Warn("created first account; note its password, it is not shown again", "account", addr, "password", pw)
	return nil
}

func randomPassword() string {
	b := make([]byte, 12)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// startProcess registers the server-wide series: reloads, certificate
// expiry, spool disk space.
func (a *app) startProcess(bool) error {
	a.process = metrics.NewProcess(a.reg, a.certs.Leaf, a.cfg.DataDir)
	return nil
}

func (a *app) startTLS(bool) error {
	var err error
	if a.cfg.TLS.CertFile != "" {
		var more []certs.Pair
		for _, p := range a.cfg.TLS.More {
			more = append(more, certs.Pair{CertFile: p.CertFile, KeyFile: p.KeyFile})
		}
		a.certs, err = certs.New(a.cfg.TLS.CertFile, a.cfg.TLS.KeyFile, more...)
		if err != nil {
			return err
		}
	} else {
		var generated bool
		dir := filepath.Join(a.cfg.DataDir, "tls")
		a.certs, generated, err = certs.SelfSigned(dir, a.cfg.Hostname)
		if err != nil {
			return err
		}
		if a.cfg.TLS.ACME != nil {
			if err := a.useACME(); err != nil {
				return err
			}
		} else {
			a.log.Warn("no tls.cert_file configured: using a self-signed certificate; clients will not trust it",
				"dir", dir, "generated", generated)
		}
	}
	a.tls = a.certs.TLSConfig()
	return nil
}

// startStore opens the mailboxes; per-account quotas follow accounts.yaml.
func (a *app) startStore(bool) error {
	st, err := mailbox.New(mailbox.Options{
		Dir: filepath.Join(a.cfg.DataDir, "mail"), DefaultQuota: int64(a.cfg.Mailbox.DefaultQuota),
		HeaderCache: int(a.cfg.Mailbox.HeaderCache), Logger: a.log, Registerer: a.reg,
	})
	if err != nil {
		return err
	}
	a.store = st
	a.accounts.SetCatchAll(a.cfg.Mailbox.CatchAll)
	a.accounts.OnReload(func(list []accounts.Account) {
		for _, acc := range list {
			if acc.Quota > 0 {
				st.SetQuota(acc.Address, acc.Quota)
			}
		}
	})
	return nil
}

func (a *app) startQueue(bool) error {
	classify := func(err error) *mailmsg.Error {
		var qe mailbox.QuotaError
		if errors.As(err, &qe) {
			return delivery.MailboxFull(qe.Permanent, err)
		}
		return nil
	}
	router, err := delivery.New(a.cfg, a.resolver, a.store, a.accounts, classify, a.log, a.reg)
	if err != nil {
		return err
	}
	a.router = router
	if err := a.startForwarding(); err != nil {
		return err
	}
	if err := a.startSieve(); err != nil {
		return err
	}
	if a.tracker, err = bounces.OpenTracker(a.cfg.DataDir); err != nil {
		return err
	}
	qc := a.cfg.Queue
	q, err := queue.Open(queue.Options{
		Dir: filepath.Join(a.cfg.DataDir, "queue"), Deliverer: router, Hostname: a.cfg.Hostname,
		FirstRetry: qc.FirstRetry.D(), MaxRetryInterval: qc.MaxRetryInterval.D(), MaxAge: qc.MaxAge.D(),
		DelayWarning: qc.DelayWarning.D(), MaxConcurrent: qc.MaxConcurrent, PerDestination: qc.PerDestination,
		Destination: router.Destination, Logger: a.log, Registerer: a.reg, Release: a.release.Soon,
		Outcomes: a.outcomes, EnvelopeID: a.tracker.EnvID, FinishedRetention: qc.FinishedRetention.D(), FinishedMaxSize: int64(qc.FinishedMaxSize),
	})
	if err != nil {
		return err
	}
	a.queue = q
	q.Start()
	if a.http != nil {
		a.http.Handle("/admin/queue", web.QueueAdmin(q))
		a.http.Handle("/admin/queue/", web.QueueAdmin(q))
	}
	a.stops = append(a.stops, func(context.Context) { q.Close(); router.Close() })
	return nil
}

// startHTTP serves metrics, health and the admin API.
func (a *app) startHTTP(bool) error {
	l, ok := a.listenerOf(config.ProtoHTTP)
	if !ok {
		return nil
	}
	token := ""
	if a.cfg.HTTP.TokenFile != "" {
		b, err := os.ReadFile(a.cfg.HTTP.TokenFile)
		if err != nil {
			return err
		}
		token = strings.TrimSpace(string(b))
	}
	a.http = web.New(a.reg, token, a.log)
	if h := a.certs.HTTPHandler(); h != nil {
		a.http.Handle("/.well-known/acme-challenge/", h) // ACME http-01
	}
	a.addReadyChecks()
	a.http.SetAutoconfig(clientConfig(a.cfg))
	return a.serve(l, func(ln net.Listener) error { return a.http.Serve(ln) }, a.http.Shutdown)
}

// listenerOf returns the first listener of a protocol.
func (a *app) listenerOf(proto string) (config.Listener, bool) {
	for _, l := range a.cfg.Listeners {
		if l.Protocol == proto {
			return l, true
		}
	}
	return config.Listener{}, false
}

// serve binds l's address now (so a taken port fails the start) and runs
// the protocol server on it in the background.
func (a *app) serve(l config.Listener, run func(net.Listener) error, shutdown func(context.Context) error) error {
	var lc net.ListenConfig
	if config.IsSMTP(l.Protocol) {
		// SMTP sessions end by their command and data timeouts; TCP
		// keep-alive would only add four setsockopt(2) calls to every
		// connection (a message each, for applications).
		lc.KeepAlive = -1
	}
	ln, err := listen(&lc, l)
	if err != nil {
		return fmt.Errorf("listener %s: %v", l.Name, err)
	}
	if l.ProxyProtocol {
		if ln, err = cluster.ProxyListener(ln, l.TrustedProxies, a.log.With("listener", l.Name)); err != nil {
			return fmt.Errorf("listener %s: %v", l.Name, err)
		}
	}
	a.log.Info("listening", "listener", l.Name, "protocol", l.Protocol, "address", ln.Addr().String())
	a.listening.set(l.Name, true)
	go func() {
		err := run(ln)
		a.listening.set(l.Name, false)
		a.errc <- err
	}()
	if shutdown != nil {
		a.stops = append(a.stops, func(ctx context.Context) { shutdown(ctx) })
	}
	return nil
}

// startIMAP runs one IMAP server (its metrics register once) for both
// IMAP listeners.
func (a *app) startIMAP(bool) error {
	mc := a.cfg.Mailbox
	srv := imap.New(imap.Options{
		Store: a.store, Auth: liveAccounts{a.accounts}, TLS: a.tls, Logger: a.log, Registerer: a.reg,
		MaxLiteral: int64(mc.IMAPMaxLiteral), IdleTimeout: mc.IMAPIdleTimeout.D(), MaxConnections: mc.IMAPMaxConnections,
		MaxConnectionsPerIP: mc.IMAPMaxConnectionsPerIP, MaxUserIPConnections: mc.IMAPMaxUserIPConnections,
		LoginTimeout: mc.IMAPLoginTimeout.D(), SessionRecheck: mc.IMAPSessionRecheck.D(),
		Logins: a.logins(), FailureDelay: a.cfg.Auth.Delay.D(),
	})
	started := false
	for _, l := range a.cfg.Listeners {
		if l.Protocol != config.ProtoIMAP && l.Protocol != config.ProtoIMAPS {
			continue
		}
		il := imap.Listener{ImplicitTLS: l.Protocol == config.ProtoIMAPS, InsecureAuth: a.insecureAuth(l)}
		if err := a.serve(l, func(ln net.Listener) error { return srv.ServeListener(ln, il) }, nil); err != nil {
			return err
		}
		started = true
	}
	if started {
		a.stops = append(a.stops, func(context.Context) { srv.Close() })
	}
	return nil
}

// startPOP3 runs one POP3 server for both POP3 listeners, so [IN-USE]
// holds across them.
func (a *app) startPOP3(bool) error {
	srv := pop3.New(pop3.Options{
		Store: pop3.NewStore(a.store), Auth: pop3Auth{liveAccounts{a.accounts}}, TLS: a.tls, Logger: a.log,
		Registerer: a.reg, Hostname: a.cfg.Hostname, Logins: a.logins(),
	})
	started := false
	for _, l := range a.cfg.Listeners {
		if l.Protocol != config.ProtoPOP3 && l.Protocol != config.ProtoPOP3S {
			continue
		}
		pl := pop3.Listener{ImplicitTLS: l.Protocol == config.ProtoPOP3S, InsecureAuth: a.insecureAuth(l)}
		run := func(ln net.Listener) error {
			if err := srv.ServeListener(ln, pl); !errors.Is(err, pop3.ErrServerClosed) {
				return err
			}
			return nil
		}
		if err := a.serve(l, run, nil); err != nil {
			return err
		}
		started = true
	}
	if started {
		a.stops = append(a.stops, func(context.Context) { srv.Close() })
	}
	return nil
}

// wait blocks until a signal to stop or a listener failure; SIGHUP
// reloads the config and goes on waiting.
func (a *app) wait(sigs <-chan os.Signal) int {
	for {
		select {
		case s := <-sigs:
			if s == syscall.SIGHUP {
				a.reload()
				continue
			}
			a.log.Info("shutting down", "signal", s.String(), "timeout", shutdownTimeout.String())
			return 0
		case err := <-a.errc:
			if err != nil {
				a.log.Error("listener failed", "err", err)
				return 1
			}
			return 0
		}
	}
}

// stop tears the graph down in reverse order of start.
func (a *app) stop(ctx context.Context) {
	for i := len(a.stops) - 1; i >= 0; i-- {
		a.stops[i](ctx)
	}
}
