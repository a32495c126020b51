package main

import (
	"context"
	"errors"
	"mailgate/web"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"mailgate/api"
	"mailgate/config"
	"mailgate/console"
	"mailgate/filters"
	"mailgate/metrics"
)

// startConsole builds the web console (issue 22) and mounts it on the
// http listener; startAPI also serves it on the api listeners (TLS).
func (a *app) startConsole(bool) error {
	if a.http == nil && !a.hasListener(config.ProtoAPI) {
		return nil
	}
	o := console.Options{
		Auth: a.accounts, Logins: a.logins(), Admins: func() []string { return a.live.Load().HTTP.Admins },
		Queue: consoleQueue{a.queue}, Accounts: consoleAccounts{a.accounts, a.store}, Keys: consoleKeys{a.keys},
		DNS: consoleDNS{a}, Config: consoleConfig{a}, Status: a.consoleStatus, Counters: a.consoleCounts,
		Setup:       func() []console.Server { return consoleServers(clientConfig(a.live.Load())) },
		Domains:     func() []string { return a.live.Load().LocalDomains },
		ChartFile:   filepath.Join(a.cfg.DataDir, "console-charts.json"),
		SessionIdle: a.cfg.HTTP.SessionIdle.D(), SessionLifetime: a.cfg.HTTP.SessionLifetime.D(),
		FailureDelay: a.cfg.Auth.Delay.D(), Logger: a.log.With("component", "console"),
	}
	if a.ldap != nil {
		o.Directory = consoleDirectory{a.ldap}
	}
	if a.cfg.Sieve.Enabled && a.sieveScripts != nil {
		o.Sieve = consoleSieve{a.sieveScripts, a.log}
	}
	c, err := console.New(o)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.Start(ctx)
	a.stops = append(a.stops, func(context.Context) { cancel(); c.Wait() })
	a.console = c
	if a.http != nil {
		for _, p := range console.Paths {
			a.http.HandleOwnAuth(p, c)
		}
	}
	return nil
}

func (a *app) hasListener(proto string) bool {
	_, ok := a.listenerOf(proto)
	return ok
}

// apiHandler is what an api listener serves: the send API, the web
// console when it runs (over TLS, so its cookie is Secure), and the
// MTA-STS policy to requests for mta-sts.DOMAIN: senders fetch it over
// HTTPS on port 443 (RFC 8461 §3.3), where an api listener with a
// certificate from tls.acme can answer.
func (a *app) apiHandler(srv http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", srv)
	mux.Handle("/.well-known/mta-sts.txt", mtaSTSHandler{a})
	if a.console != nil {
		for _, p := range console.Paths {
			mux.Handle(p, a.console)
		}
	}
	return mux
}

// consoleStatus is the overview's queue size, disk and certificate.
func (a *app) consoleStatus() console.Status {
	st := console.Status{QueueMessages: len(a.queue.List()), DiskFree: -1}
	if free, err := metrics.FreeBytes(a.cfg.DataDir); err == nil {
		st.DiskFree = free
	}
	if leaf := a.certs.Leaf(); leaf != nil {
		st.CertExpiry, st.CertNames = leaf.NotAfter, leaf.DNSNames
	}
	return st
}

// consoleCounts reads the mail totals from the registry: messages
// accepted (SMTP and API) and delivery attempts by result.
func (a *app) consoleCounts() console.Counts {
	var c console.Counts
	mfs, err := a.reg.Gather()
	if err != nil {
		return c
	}
	for _, mf := range mfs {
		switch mf.GetName() {
		case "mailgate_smtp_messages_accepted_total":
			for _, m := range mf.GetMetric() {
				c.Accepted += m.GetCounter().GetValue()
			}
		case "mailgate_delivery_attempts_total":
			for _, m := range mf.GetMetric() {
				addAttempt(&c, m.GetLabel(), m.GetCounter().GetValue())
			}
		}
	}
	return c
}

type labelPair interface {
	GetName() string
	GetValue() string
}

func addAttempt[L labelPair](c *console.Counts, labels []L, v float64) {
	for _, l := range labels {
		if l.GetName() != "result" {
			continue
		}
		switch l.GetValue() {
		case "delivered":
			c.Delivered += v
		case "deferred":
			c.Deferred += v
		case "bounced":
			c.Bounced += v
		}
	}
}

func consoleServers(cc web.ClientConfig) []console.Server {
	var out []console.Server
	for _, s := range append(append([]web.ClientServer(nil), cc.Incoming...), cc.Outgoing...) {
		out = append(out, console.Server{Type: s.Type, Hostname: s.Hostname, Port: s.Port, Socket: s.Socket})
	}
	return out
}

// consoleDNS gives the console the dns-records output and its -check.
type consoleDNS struct{ a *app }

func (d consoleDNS) Records(domain string) (string, error) {
	var b strings.Builder
	err := writeDNSRecords(&b, d.a.live.Load(), domain)
	return b.String(), err
}

func (d consoleDNS) Check(ctx context.Context, domain string) ([]console.RecordCheck, error) {
	cfg := d.a.live.Load()
	var b strings.Builder
	if err := writeDNSRecords(&b, cfg, domain); err != nil {
		return nil, err
	}
	var out []console.RecordCheck
	for _, rc := range checkDNSLines(dnsServer(cfg), []byte(b.String())) {
		out = append(out, console.RecordCheck{Name: rc.name, Type: rc.rrtype, Want: rc.want, Status: rc.status,
			Detail: strings.TrimPrefix(rc.detail, ": ")})
	}
	return out, ctx.Err()
}

// consoleConfig shows the config file with secrets hidden.
type consoleConfig struct{ a *app }

// secretLine matches a YAML key whose value is a secret (password,
// secret, token), not a file name holding one.
var secretLine = regexp.MustCompile(`(?im)^(\s*-?\s*[a-z_]*(password|secret|token|passphrase)[a-z_]*\s*:\s*)(\S.*)$`)

func (c consoleConfig) Text() string {
	data := config.DefaultYAML()
	if c.a.cfgPath != "" {
		b, err := os.ReadFile(c.a.cfgPath)
		if err != nil {
			return "(the config file cannot be read now)"
		}
		data = b
	}
	return redactConfig(string(data))
}

func redactConfig(s string) string {
	return secretLine.ReplaceAllStringFunc(s, func(line string) string {
		m := secretLine.FindStringSubmatch(line)
		if strings.HasSuffix(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(m[1]), ":")), "_file") {
			return line
		}
		return m[1] + "(hidden)"
	})
}

func (c consoleConfig) Check() []string {
	if c.a.cfgPath == "" {
		return nil
	}
	_, err := config.Load(c.a.cfgPath, filters.Builtin())
	if err == nil {
		return nil
	}
	var errs *config.Errors
	if errors.As(err, &errs) {
		var out []string
		for _, p := range errs.Problems {
			out = append(out, p.String())
		}
		return out
	}
	return []string{err.Error()}
}

// consoleKeys are the API keys; the console makes send-scope keys.
type consoleKeys struct{ k *api.Keys }

func (k consoleKeys) List() ([]console.Key, error) {
	keys, err := k.k.List()
	return convert(keys, consoleKey), err
}

func (k consoleKeys) Add(account, name string) (console.Key, string, error) {
	x, secret, err := k.k.Add(account, name, []string{api.ScopeSend, api.ScopeRead})
	return consoleKey(x), secret, err
}

func consoleKey(x api.Key) console.Key {
	return console.Key{ID: x.ID, Account: x.Account, Name: x.Name, Scopes: x.Scopes, Created: x.Created}
}

func (k consoleKeys) Revoke(id string) error { return k.k.Revoke(id) }
