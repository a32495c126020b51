package main

import (
	"errors"
	"log/slog"
	"mailgate/accounts"
	"strings"

	"mailgate/console"
	"mailgate/mailbox"
	"mailgate/queue"
	"mailgate/sieve"
	"mailgate/sieve/scripts"
)

// consoleQueue is the queue as the console sees it.
type consoleQueue struct{ q *queue.Queue }

func (c consoleQueue) List() []console.Message {
	list := c.q.List()
	out := make([]console.Message, 0, len(list))
	for _, mi := range list {
		out = append(out, consoleMessage(mi))
	}
	return out
}

func (c consoleQueue) Show(id string) (console.Message, error) {
	mi, err := c.q.Show(id)
	if err != nil {
		return console.Message{}, queueErr(err)
	}
	return consoleMessage(mi), nil
}

func (c consoleQueue) Hold(id string) error    { return queueErr(c.q.Hold(id)) }
func (c consoleQueue) Release(id string) error { return queueErr(c.q.Release(id)) }
func (c consoleQueue) Delete(id string) error  { return queueErr(c.q.Delete(id)) }
func (c consoleQueue) Bounce(id string) error  { return queueErr(c.q.Bounce(id)) }

func (c consoleQueue) Flush(id, domain string) (int, error) {
	n, err := c.q.Flush(id, domain)
	return n, queueErr(err)
}

func queueErr(err error) error {
	if errors.Is(err, queue.ErrNotFound) {
		return console.ErrNotFound
	}
	return err
}

func consoleMessage(mi queue.MessageInfo) console.Message {
	m := console.Message{ID: mi.ID, From: mi.From, Account: mi.Account, Received: mi.Received, Size: mi.Size, Held: mi.Held, Headers: mi.Headers}
	for _, r := range mi.Recipients {
		cr := console.Recipient{Addr: r.Addr, State: r.State, LastError: r.LastError, Attempts: r.Attempts, NextAttempt: r.NextAttempt}
		for _, h := range r.History {
			cr.History = append(cr.History, console.Attempt{Time: h.Time, Result: h.Result, Detail: h.Detail})
		}
		m.Recipients = append(m.Recipients, cr)
	}
	return m
}

// consoleAccounts is accounts.yaml plus the store's quota use.
type consoleAccounts struct {
	a     *accounts.Accounts
	store *mailbox.Store
}

func (c consoleAccounts) List() []console.Account {
	list := c.a.List()
	out := make([]console.Account, 0, len(list))
	for _, acc := range list {
		out = append(out, consoleAccount(acc))
	}
	return out
}

func (c consoleAccounts) Get(addr string) (console.Account, bool) {
	acc, ok := c.a.Get(addr)
	if !ok || !strings.EqualFold(acc.Address, addr) {
		return console.Account{}, false // an alias is not an account
	}
	return consoleAccount(acc), true
}

func consoleAccount(acc accounts.Account) console.Account {
	return console.Account{Address: acc.Address, Aliases: acc.Aliases, SendAs: acc.SendAs, Quota: acc.Quota, Disabled: acc.Disabled}
}

func (c consoleAccounts) Add(addr, password string) error {
	return c.a.Add(accounts.Account{Address: addr}, password)
}

func (c consoleAccounts) SetPassword(addr, password string) error {
	return c.a.SetPassword(addr, password)
}

func (c consoleAccounts) SetDisabled(addr string, disabled bool) error {
	return c.a.SetDisabled(addr, disabled)
}

// Update also applies a new quota to the store at once (the reload
// hook does it too, a moment later).
func (c consoleAccounts) Update(addr string, aliases, sendAs []string, quota int64) error {
	if err := c.a.Update(addr, aliases, sendAs, quota); err != nil {
		return err
	}
	if quota > 0 {
		c.store.SetQuota(addr, quota)
	}
	return nil
}

func (c consoleAccounts) Usage(addr string) (int64, int64, error) { return c.store.Usage(addr) }

// consoleSieve is the script store ManageSieve uses; its errors reach
// the user only when they say what to fix.
type consoleSieve struct {
	s   *scripts.Store
	log *slog.Logger
}

func (c consoleSieve) List(account string) ([]console.Script, error) {
	list, err := c.s.List(account)
	out := make([]console.Script, 0, len(list))
	for _, i := range list {
		out = append(out, console.Script{Name: i.Name, Active: i.Active})
	}
	return out, c.sieveErr(err)
}

func (c consoleSieve) Get(account, name string) ([]byte, error) {
	b, err := c.s.Get(account, name)
	return b, c.sieveErr(err)
}

func (c consoleSieve) Put(account, name string, src []byte) error {
	return c.sieveErr(c.s.Put(account, name, src))
}

func (c consoleSieve) SetActive(account, name string) error {
	return c.sieveErr(c.s.SetActive(account, name))
}

func (c consoleSieve) Delete(account, name string) error {
	return c.sieveErr(c.s.Delete(account, name))
}

var sieveUserErrors = []error{scripts.ErrNoScript, scripts.ErrActive, scripts.ErrExists, scripts.ErrBadName, scripts.ErrTooMany, scripts.ErrTooLarge}

// sieveErr keeps a script's own problem (line:column) and the store's
// refusals; anything else (a disk error) becomes a generic error whose
// detail stays in the server.
func (c consoleSieve) sieveErr(err error) error {
	if err == nil {
		return nil
	}
	var se *sieve.Error
	if errors.As(err, &se) {
		return err
	}
	for _, e := range sieveUserErrors {
		if errors.Is(err, e) {
			return e
		}
	}
	c.log.Error("console: sieve store", "err", err)
	return errors.New("the server could not do it; its log says why")
}
