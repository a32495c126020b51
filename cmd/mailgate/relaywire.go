package main

import (
	"context"
	"fmt"
	"net"

	"mailgate/authlimit"
	"mailgate/config"
	"mailgate/filters"
	"mailgate/relay"
)

// The relay's part of the object graph: its filter chains, the
// dependencies they share, and the failed-login limiter it shares with
// IMAP and POP3 (startRelay is one of serve.go's start steps).

func (a *app) startRelay(bool) error {
	a.rateLimits = a.newRateLimits(filters.NewRateLimits(filters.RateLimitSettings(a.cfg), nil))
	chains, err := a.buildChains(a.cfg, a.rateLimits)
	if err != nil {
		return err
	}
	a.setAPIChain(a.cfg, chains)
	a.relay = relay.New(relay.Options{
		Config: a.cfg, TLS: a.tls, Users: a.relayUsers(), Queue: bounceTap{a, a.queue}, Chains: chains, SpillDir: a.queue.Spool().Dir(), Release: a.release.Soon,
		Quotas: mailboxQuotas{accounts: a.accounts, store: a.store},
		Logger: a.log, Registerer: a.reg, Logins: a.logins(),
	})
	a.stops = append(a.stops, func(ctx context.Context) { a.relay.Shutdown(ctx) })
	for _, l := range a.cfg.Listeners {
		if !isSMTPListener(l) {
			continue
		}
		if err := a.serve(l, func(ln net.Listener) error { return a.relay.Serve(l, ln) }, nil); err != nil {
			return err
		}
	}
	return nil
}

// buildChains makes each SMTP listener's filter chain for cfg.
func (a *app) buildChains(cfg *config.Config, rl *filters.RateLimits) (map[string]*filters.Chain, error) {
	chains := map[string]*filters.Chain{}
	for _, l := range cfg.Listeners {
		if !isSMTPListener(l) {
			continue
		}
		c, err := filters.New(cfg, l, a.filterDeps(rl))
		if err != nil {
			return nil, fmt.Errorf("listener %s: %v", l.Name, err)
		}
		chains[l.Name] = c
	}
	return chains, nil
}

// insecureAuth reports whether listener l lets its loopback clients log
// in without TLS (allow_insecure_auth): only on a plain-text listener on
// a loopback address (benchmarks, local scripts), and only for that
// listener; the servers also check that each client is on loopback.
func (a *app) insecureAuth(l config.Listener) bool {
	if !l.AllowInsecureAuth {
		return false
	}
	host, _, err := net.SplitHostPort(l.Address)
	if ip := net.ParseIP(host); err == nil && (host == "localhost" || ip != nil && ip.IsLoopback()) {
		return true
	}
	a.log.Warn("allow_insecure_auth ignored: the listener is not on a loopback address", "listener", l.Name)
	return false
}

// logins is the one failed-login limiter shared by SMTP AUTH, IMAP and
// POP3, so guesses on one protocol count against the others.
func (a *app) logins() *authlimit.Limiter {
	if a.loginLimiter == nil {
		c := a.cfg.Auth
		o := authlimit.Options{
			MaxFailures: c.MaxFailures, MaxAccountFailures: c.MaxAccountFailures,
			Window: c.Window.D(), Lockout: c.Lockout.D(), Logger: a.log,
		}
		if a.redis != nil {
			o.Shared, o.Grace = a.sharedLockouts(o), a.cfg.Cluster.Redis.LockoutGrace.D()
		}
		a.loginLimiter = authlimit.New(o)
	}
	return a.loginLimiter
}

// filterDeps are shared by every listener's chain: one rate-limit store,
// so budgets hold across ports.
func (a *app) filterDeps(rl *filters.RateLimits) filters.Deps {
	return filters.Deps{
		Logger: a.log, SendAs: a.accounts.SendAs, Resolver: a.resolver,
		Registerer: a.reg, RateLimits: rl, AccountLimit: a.accountLimit,
		DMARCReports: a.reports.dmarc, Suppressed: a.suppress.Has,
	}
}

// accountLimit is an account's own rate limit from accounts.yaml.
func (a *app) accountLimit(account string) (filters.Limit, bool) {
	rl, ok := a.accounts.RateLimit(account)
	return filters.Limit{Messages: rl.Messages, Recipients: rl.Recipients, Period: config.Duration(rl.Period)}, ok
}

// isSMTPListener reports whether the relay serves l (SMTP or LMTP).
func isSMTPListener(l config.Listener) bool { return config.IsSMTP(l.Protocol) }
