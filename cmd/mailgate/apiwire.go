package main

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"mailgate/accounts"
	"mailgate/api"
	"mailgate/config"
	"mailgate/filters"
	"mailgate/internal/mailmsg"
	"mailgate/queue"
	"mailgate/suppression"
	"mailgate/webhook"
)

// startAPI mounts the HTTP send API (issue 19) on the http listener
// (loopback clients only without TLS) and serves it over TLS on each api
// listener. It runs the first submission listener's filter chain.
func (a *app) startAPI(bool) error {
	lim := a.cfg.Limits
	srv, err := api.New(api.Options{
		Keys: a.keys, Accounts: a.accounts, Suppressions: a.suppress, Queue: apiQueue{a.queue}, Chain: a.apiChain.Load,
		IsLocal: a.isLocal, Hostname: a.cfg.Hostname,
		MaxMessageSize: int64(lim.MaxMessageSize), MaxRecipients: lim.MaxRecipients,
		Dir: a.apiDir(), Logger: a.log,
	})
	if err != nil {
		return err
	}
	if a.http != nil {
		a.http.Handle("/api/", srv)
	}
	for _, l := range a.cfg.Listeners {
		if l.Protocol != config.ProtoAPI {
			continue
		}
		hs := api.NewHTTPServer(srv)
		run := func(ln net.Listener) error { return api.ServeTLS(hs, ln, a.tls) }
		if err := a.serve(l, run, hs.Shutdown); err != nil {
			return err
		}
	}
	return nil
}

// setAPIChain picks the chain the API runs from a listener's chains:
// the first submission listener's, or none.
func (a *app) setAPIChain(cfg *config.Config, chains map[string]*filters.Chain) {
	for _, l := range cfg.Listeners {
		if l.Protocol == config.ProtoSubmission || l.Protocol == config.ProtoSubmissions {
			a.apiChain.Store(chains[l.Name])
			return
		}
	}
	c, _ := filters.New(cfg, config.Listener{Name: "api"}, a.filterDeps(a.rateLimits))
	a.apiChain.Store(c)
}

func (a *app) isLocal(domain string) bool {
	return slices.ContainsFunc(a.live.Load().LocalDomains, func(d string) bool { return strings.EqualFold(d, domain) })
}

func (a *app) apiDir() string { return filepath.Join(a.cfg.DataDir, "api") }

// startWebhooks runs the webhook dispatcher (events from outcome).
func (a *app) startWebhooks(bool) error {
	hooks, err := webhook.OpenHooks(a.cfg.DataDir)
	if err != nil {
		return err
	}
	dir := a.apiDir()
	a.webhooks, err = webhook.New(webhook.Options{
		Dir: filepath.Join(a.cfg.DataDir, "webhooks"), Hooks: hooks, Logger: a.log, Registerer: a.reg,
		Labels: func(id string) ([]string, map[string]string) { return api.Labels(dir, id) },
	})
	if err != nil {
		return err
	}
	a.webhooks.Start()
	a.stops = append(a.stops, func(context.Context) { a.webhooks.Close() })
	return nil
}

// outcome hears every delivery result from the queue (under its lock):
// each becomes a webhook event for the account, and a hard bounce puts
// the recipient on the account's suppression list (written durably;
// bounces are rare, so the lock is held for the fsync only then).
func (a *app) outcome(o queue.Outcome) {
	if o.Account == "" {
		return
	}
	now := time.Now().UTC()
	ev := webhook.Event{Type: o.State, Time: now, QueueID: o.ID, Account: o.Account, Recipient: o.Recipient, Status: o.Status, Reply: o.Reply}
	a.webhooks.Emit(ev)
	if o.State != queue.StateBounced || !suppression.HardBounce(o.Command, o.Status) {
		return
	}
	err := a.suppress.Add(suppression.Entry{Account: o.Account, Address: o.Recipient, Reason: o.Reply, QueueID: o.ID, Time: now})
	if err != nil {
		a.log.Error("suppression list not written", "msgid", o.ID, "rcpt", o.Recipient, "err", err)
		return
	}
	a.log.Info("suppressed", "msgid", o.ID, "account", o.Account, "rcpt", o.Recipient, "status", o.Status)
	ev.Type = webhook.Suppressed
	a.webhooks.Emit(ev)
}

// apiQueue adapts the queue to what the API needs.
type apiQueue struct{ q *queue.Queue }

func (aq apiQueue) Submit(ctx context.Context, m api.Outgoing) error {
	env := &mailmsg.Envelope{ID: m.ID, From: m.From, Received: m.Received, ClientIP: m.ClientIP, Helo: "api",
		Listener: "api", Account: m.Account, UTF8: m.UTF8, EightBit: m.EightBit, Quarantine: m.Quarantine}
	for _, r := range m.Recipients {
		env.Recipients = append(env.Recipients, mailmsg.Recipient{Addr: r.Addr, Orig: r.Orig})
	}
	return aq.q.Enqueue(ctx, env, m.Raw)
}

func (aq apiQueue) Status(id string) (api.Status, bool) {
	mi, err := aq.q.Show(id)
	if err != nil {
		return api.Status{}, false
	}
	st := api.Status{ID: mi.ID, Account: mi.Account}
	for _, r := range mi.Recipients {
		rs := api.RcptStatus{Recipient: r.Addr, State: r.State, Attempts: r.Attempts, Reply: r.LastError}
		if n := len(r.History); n > 0 && r.History[n-1].Detail != "" {
			rs.Reply = r.History[n-1].Detail
		}
		if r.State == queue.StatePending {
			rs.State = "queued"
		}
		if !r.NextAttempt.IsZero() && (r.State == queue.StatePending || r.State == queue.StateDeferred) {
			t := r.NextAttempt.UTC().Truncate(time.Second)
			rs.NextAttempt = &t
		}
		st.Recipients = append(st.Recipients, rs)
	}
	return st, true
}

// keyLogins lets an application use its API key as the SMTP AUTH
// password of its account (one secret for both); only a key with the
// send scope logs in, and only as its own account.
type keyLogins struct {
	*accounts.Accounts
	keys *api.Keys
}

func (k keyLogins) Authenticate(ctx context.Context, username, password string) (string, error) {
	if !api.IsKey(password) {
		return k.Accounts.Authenticate(ctx, username, password)
	}
	key, err := k.keys.Check(password)
	if err != nil && !errors.Is(err, api.ErrBadKey) {
		return "", err
	}
	if err != nil || !strings.EqualFold(key.Account, username) || !key.Has(api.ScopeSend) {
		return "", accounts.ErrAuthFailed
	}
	return key.Account, nil
}
