package main

import (
	"errors"
	"reflect"
	"time"

	"mailgate/config"
	"mailgate/filters"
)

// reload is SIGHUP: read the config file again and apply what can change
// without dropping connections. A config with any problem is refused as
// a whole, each problem logged, and the running config stays.
//
// Applied at once: log.level; limits (but the connection caps), hostname
// in SMTP replies, local_domains and every filter setting (new SMTP
// connections); mailbox.catch_all; http.min_free_disk; the autoconfig
// file. Accounts (accounts.yaml) and certificate files are re-read by
// their owners whenever they change; a reload checks the certificate at
// once. Everything else is logged as needing a restart.
func (a *app) reload() {
	if a.cfgPath == "" {
		a.log.Warn("reload: running on the embedded default config; nothing to reload (start with -config FILE)")
		return
	}
	a.log.Info("reload: reading config", "config", a.cfgPath)
	cfg, err := config.Load(a.cfgPath, filters.Builtin())
	if err != nil {
		a.refuseReload(err)
		return
	}
	rl := a.rateLimits
	if !reflect.DeepEqual(filters.RateLimitSettings(cfg), filters.RateLimitSettings(a.live.Load())) {
		rl = a.newRateLimits(filters.NewRateLimits(filters.RateLimitSettings(cfg), nil)) // new budgets; counts start again
	}
	chains, err := a.buildChains(cfg, rl)
	if err != nil {
		a.refuseReload(err)
		return
	}
	a.rateLimits = rl
	a.relay.Reload(cfg, chains)
	a.setAPIChain(cfg, chains)
	a.level.UnmarshalText([]byte(cfg.Log.Level))
	a.accounts.SetCatchAll(cfg.Mailbox.CatchAll)
	a.accounts.ForgetLogins() // every login checks its password hash again
	if a.http != nil {
		a.http.SetAutoconfig(clientConfig(cfg))
	}
	a.live.Store(cfg)
	a.process.Reloaded(true, time.Now())
	for _, key := range restartKeys(a.cfg, cfg) {
		a.log.Warn("reload: change needs a restart; the old value stays in use until then", "key", key)
	}
	a.log.Info("reload: accounts", "file", a.accounts.Path(), "accounts", len(a.accounts.List()))
	if leaf := a.certs.Leaf(); leaf != nil {
		a.log.Info("reload: certificate", "subject", leaf.Subject.CommonName, "not_after", leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	a.log.Info("reload: config applied", "config", a.cfgPath)
}

// refuseReload logs every problem of a config that will not be used.
func (a *app) refuseReload(err error) {
	a.process.Reloaded(false, time.Now())
	var ce *config.Errors
	if errors.As(err, &ce) {
		for _, p := range ce.Problems {
			a.log.Error("reload: config error", "problem", p.String())
		}
	} else {
		a.log.Error("reload: config error", "problem", err.Error())
	}
	a.log.Error("reload refused; the running config stays in use", "config", a.cfgPath)
}

// restartKeys names the settings that differ between the config the
// server started with and cfg, and that only a restart applies.
func restartKeys(started, cfg *config.Config) []string {
	var keys []string
	diff := func(key string, x, y any) {
		if !reflect.DeepEqual(x, y) {
			keys = append(keys, key)
		}
	}
	diff("data_dir", started.DataDir, cfg.DataDir)
	diff("log.format", started.Log.Format, cfg.Log.Format)
	diff("tls", started.TLS, cfg.TLS)
	diff("listeners (sockets are bound at start; filters lists apply at once)", bound(started.Listeners), bound(cfg.Listeners))
	diff("limits.max_connections", started.Limits.MaxConnections, cfg.Limits.MaxConnections)
	diff("limits.max_connections_per_ip", started.Limits.MaxConnectionsPerIP, cfg.Limits.MaxConnectionsPerIP)
	diff("auth", started.Auth, cfg.Auth)
	diff("cluster", started.Cluster, cfg.Cluster)
	diff("queue", started.Queue, cfg.Queue)
	diff("delivery", started.Delivery, cfg.Delivery)
	diff("http.token_file", started.HTTP.TokenFile, cfg.HTTP.TokenFile)
	diff("hostname (delivery and bounces)", started.Hostname, cfg.Hostname)
	m1, m2 := started.Mailbox, cfg.Mailbox
	m1.CatchAll, m2.CatchAll = nil, nil
	diff("mailbox (but catch_all)", m1, m2)
	return keys
}

// bound is the part of listeners that a restart applies: all but the
// filter lists.
func bound(list []config.Listener) []config.Listener {
	out := make([]config.Listener, len(list))
	for i, l := range list {
		l.Filters = nil
		out[i] = l
	}
	return out
}
