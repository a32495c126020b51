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
	"mailgate/accounts/ldapdir"
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
		AccountState: a.apiAccountState, IsLocal: a.isLocal, Hostname: a.cfg.Hostname,
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
		hs := api.NewHTTPServer(a.apiHandler(srv))
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

// apiAccountState is whether an API key's account may use it now: the
// HTTP API and SMTP AUTH with a key both ask on every use.
func (a *app) apiAccountState(account string) api.AccountState {
	return accountState(a.accounts, account)
}

func accountState(accs *accounts.Accounts, account string) api.AccountState {
	acc, ok := accs.Current(account)
	switch {
	case ok && strings.EqualFold(acc.Address, account) && acc.Disabled:
		return api.AccountDisabled
	case ok && strings.EqualFold(acc.Address, account):
		return api.AccountActive
	case accs.Unreachable():
		return api.AccountUnavailable
	}
	return api.AccountGone
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

// outcomes hears the delivery results from the queue, before it records
// them: a hard bounce puts the recipient on the account's suppression
// list, and each result becomes webhook events, all written durably
// before this returns (the queue's records follow, so a crash cannot
// keep an outcome and lose its event).
func (a *app) outcomes(outs []queue.Outcome) {
	var evs []webhook.Event
	for i := range outs {
		o := &outs[i]
		if o.Account == "" {
			continue
		}
		ev := webhook.Event{ID: webhook.EventID(o.ID, o.Index, o.Attempts, o.State), Type: o.State, Time: o.Time,
			QueueID: o.ID, Account: o.Account, Recipient: o.Recipient, Status: o.Status, Reply: o.Reply}
		evs = append(evs, ev)
		if o.State == queue.StateBounced && suppression.HardBounce(o.Command, o.Status) && a.suppressBounce(*o) {
			o.Suppressed = true
			ev.Type, ev.ID = webhook.Suppressed, webhook.EventID(o.ID, o.Index, o.Attempts, webhook.Suppressed)
			evs = append(evs, ev)
		}
	}
	if err := a.webhooks.Record(evs); err != nil {
		a.log.Error("webhook events not written", "count", len(evs), "err", err)
	}
}

// suppressBounce puts a hard-bounced recipient on its account's list.
func (a *app) suppressBounce(o queue.Outcome) bool {
	err := a.suppress.Add(suppression.Entry{Account: o.Account, Address: o.Recipient, Reason: o.Reply, QueueID: o.ID, Time: o.Time})
	if errors.Is(err, suppression.ErrNotShared) {
		a.log.Warn("suppression not shared with the other nodes", "msgid", o.ID, "rcpt", o.Recipient, "err", err)
	} else if err != nil {
		a.log.Error("suppression list not written", "msgid", o.ID, "rcpt", o.Recipient, "err", err)
		return false
	}
	a.log.Info("suppressed", "msgid", o.ID, "account", o.Account, "rcpt", o.Recipient, "status", o.Status)
	return true
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

// Status answers from the queue, and for a message that left it from
// the queue's records of finished messages.
func (aq apiQueue) Status(id string) (api.Status, bool) {
	mi, err := aq.q.Show(id)
	if errors.Is(err, queue.ErrNotFound) {
		return finishedStatus(aq.q.Finished(id))
	}
	if err != nil {
		return api.Status{}, false
	}
	st := api.Status{ID: mi.ID, Account: mi.Account}
	for _, r := range mi.Recipients {
		rs := api.RcptStatus{Recipient: r.Addr, State: r.State, Attempts: r.Attempts, Reply: r.LastError}
		if n := len(r.History); n > 0 && r.History[n-1].Detail != "" {
			rs.Reply = r.History[n-1].Detail
		}
		switch r.State {
		case queue.StatePending:
			rs.State = "queued"
		case queue.StateDelivered:
			rs.Reply = r.Reply
		}
		if !r.NextAttempt.IsZero() && (r.State == queue.StatePending || r.State == queue.StateDeferred) {
			t := r.NextAttempt.UTC().Truncate(time.Second)
			rs.NextAttempt = &t
		}
		st.Recipients = append(st.Recipients, rs)
	}
	return st, true
}

func finishedStatus(rec queue.FinishedRecord, ok bool) (api.Status, bool) {
	if !ok {
		return api.Status{}, false
	}
	t := rec.Finished.UTC().Truncate(time.Second)
	st := api.Status{ID: rec.ID, Account: rec.Account, Finished: &t}
	for _, r := range rec.Recipients {
		st.Recipients = append(st.Recipients, api.RcptStatus{Recipient: r.Recipient, State: r.State, Attempts: r.Attempts,
			Reply: r.Reply, Suppressed: r.Suppressed})
	}
	return st, true
}

// liveAccounts is the account list as the servers that keep logged-in
// sessions (SMTP submission, IMAP, POP3) see it: with Active, which they
// ask during a session, so that disabling or removing an account ends
// its open sessions too.
type liveAccounts struct{ *accounts.Accounts }

// Active reports whether a logged-in session of account may go on (asked
// at each MAIL FROM, IMAP or POP3 command, and while an IMAP session
// waits): not once the account is disabled or removed; an account
// directory that does not answer cuts no session.
func (l liveAccounts) Active(account string) bool {
	st := accountState(l.Accounts, account)
	return st == api.AccountActive || st == api.AccountUnavailable
}

// keyLogins lets an application use its API key as the SMTP AUTH
// password of its account (one secret for both); only a key with the
// send scope logs in, and only as its own account.
type keyLogins struct {
	liveAccounts
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
	switch accountState(k.Accounts, key.Account) {
	case api.AccountActive:
		return key.Account, nil
	case api.AccountUnavailable:
		return "", ldapdir.ErrUnavailable
	}
	return "", accounts.ErrAuthFailed // disabled or deleted: its keys log in no more
}
