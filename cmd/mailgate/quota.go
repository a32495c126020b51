package main

import (
	"mailgate/accounts"
	"mailgate/mailbox"
)

// mailboxQuotas answers the relay's question "how full is the mailbox
// behind this delivery target?" (relay.Quotas) from the account
// database, which maps the target to its account, and the store, which
// knows the account's usage and limit: the same two that local delivery
// asks when it stores the message.
type mailboxQuotas struct {
	accounts *accounts.Accounts
	store    *mailbox.Store
}

func (q mailboxQuotas) Usage(target string) (used, limit int64, ok bool) {
	account, _, found := q.accounts.Lookup(target)
	if !found {
		return 0, 0, false
	}
	used, limit, err := q.store.Usage(account)
	return used, limit, err == nil
}
