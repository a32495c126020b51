package main

import (
	"mailgate/arc"
	"mailgate/delivery"
	"mailgate/filters"
	"mailgate/relay"
	"mailgate/srs"
)

// startForwarding opens the SRS keys in the data directory and gives the
// router what forwards need (delivery.forwarding): the relay uses the
// same keys to take bounces back.
func (a *app) startForwarding() error {
	keys, err := srs.OpenKeys(a.cfg.DataDir)
	if err != nil {
		return err
	}
	a.srs = &srs.Rewriter{Keys: keys, MaxAge: a.cfg.Delivery.Forwarding.SRSMaxAge.D()}
	var sealer func(string) *arc.Sealer
	if a.cfg.Delivery.Forwarding.ARC {
		if sealer, err = filters.ARCSealer(a.cfg); err != nil {
			return err
		}
	}
	a.router.Forwarding = delivery.NewForwarding(a.cfg, a.srs, sealer, a.resolver, a.log)
	return nil
}

// srsUsers is the account database as the relay sees it: RCPT TO an
// SRS address of ours resolves to the address it stands for.
type srsUsers struct {
	relay.Users
	srs *srs.Rewriter
}

// Expand resolves SRS addresses, then everything else as the accounts do.
func (u srsUsers) Expand(addr string, isLocal func(domain string) bool) ([]string, bool) {
	return u.srs.Expand(addr, func(a string) ([]string, bool) { return u.Users.Expand(a, isLocal) })
}

// relayUsers wraps the accounts with SRS when SRS is on.
func (a *app) relayUsers() relay.Users {
	users := keyLogins{liveAccounts{a.accounts}, a.keys} // API keys work as SMTP passwords
	if a.srs == nil || !a.cfg.Delivery.Forwarding.SRS {
		return users
	}
	return srsUsers{Users: users, srs: a.srs}
}

// Active passes on whether a logged-in account may go on sending (the
// wrapper would hide the method otherwise, and a disabled account's open
// sessions would go on).
func (u srsUsers) Active(account string) bool {
	a, ok := u.Users.(interface{ Active(account string) bool })
	return !ok || a.Active(account)
}

// Unreachable passes on whether the account directory (LDAP) is down, so
// the relay answers 451 4.4.3 rather than 550 for an unknown recipient
// while it cannot know (the wrapper would hide the method otherwise).
func (u srsUsers) Unreachable() bool {
	d, ok := u.Users.(interface{ Unreachable() bool })
	return ok && d.Unreachable()
}
