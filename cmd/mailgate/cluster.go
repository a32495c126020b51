package main

import (
	"context"
	"errors"
	"fmt"

	"mailgate/accounts"
	"mailgate/accounts/ldapdir"
	"mailgate/authlimit"
	"mailgate/cluster"
	"mailgate/filters"
	"mailgate/mailbox/pop3"
)

// startCluster connects to the shared store when cluster.redis is set;
// without it every limit stays in this process.
func (a *app) startCluster(bool) error {
	rc := a.cfg.Cluster.Redis
	if rc == nil {
		return nil
	}
	r, err := cluster.OpenRedis(*rc, a.log.With("component", "redis"), a.reg)
	if err != nil {
		return err
	}
	a.redis = r
	a.suppress.Share(cluster.NewSuppressions(r))
	a.stops = append(a.stops, func(context.Context) { r.Close() })
	a.log.Info("sharing rate limits, login lockouts and the suppression list", "redis", rc.Address, "key_prefix", rc.KeyPrefix)
	return nil
}

// newRateLimits makes the rate-limit store, kept in Redis when the
// cluster shares one.
func (a *app) newRateLimits(rl *filters.RateLimits) *filters.RateLimits {
	if a.redis != nil {
		rl.Share(cluster.NewRateLimits(a.redis))
	}
	return rl
}

// sharedLockouts is the Redis lockout store with o's thresholds (the
// defaults authlimit.New would fill in, filled in the same way).
func (a *app) sharedLockouts(o authlimit.Options) *cluster.Lockouts {
	o = authlimit.Defaults(o)
	return cluster.NewLockouts(a.redis, cluster.LockoutLimits{MaxFailures: o.MaxFailures,
		MaxAccountFailures: o.MaxAccountFailures, Window: o.Window, Lockout: o.Lockout, TrustedFor: o.TrustedFor})
}

// startDirectory adds the LDAP accounts (auth.ldap) to accounts.yaml's;
// a quota set in the directory applies to the mailbox when the account
// is looked up.
func (a *app) startDirectory(bool) error {
	lc := a.cfg.Auth.LDAP
	if lc == nil {
		return nil
	}
	d, err := ldapdir.New(*lc, a.log.With("component", "ldap"))
	if err != nil {
		return err
	}
	a.ldap = d
	a.accounts.SetDirectory(d, func(acc accounts.Account) {
		if acc.Quota > 0 {
			a.store.SetQuota(acc.Address, acc.Quota)
		}
	})
	a.log.Info("accounts from LDAP", "url", lc.URL, "base_dn", lc.BaseDN)
	return nil
}

// pop3Auth marks the logins the account directory could not check (LDAP
// down) as pop3.ErrAuthUnavailable, so POP3 answers them [SYS/TEMP]
// instead of counting a failed login. Active (liveAccounts) ends the
// sessions of an account disabled or removed.
type pop3Auth struct{ liveAccounts }

func (p pop3Auth) Authenticate(ctx context.Context, username, password string) (string, error) {
	account, err := p.Accounts.Authenticate(ctx, username, password)
	var t interface{ Temporary() bool }
	if errors.As(err, &t) && t.Temporary() {
		return "", fmt.Errorf("%w: %v", pop3.ErrAuthUnavailable, err)
	}
	return account, err
}
