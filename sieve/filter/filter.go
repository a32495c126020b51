// Package filter runs an account's active Sieve script at local delivery
// and carries out its actions: filing with flags into the mailbox store,
// forwarding and vacation replies as new messages through the queue,
// rejection as a bounce. delivery.Local calls it for each local
// recipient; the queue delivers what it submits.
package filter

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"mailgate/delivery"
	"mailgate/internal/mailmsg"
	"mailgate/sieve"
	"mailgate/sieve/scripts"
)

// Mailboxes is the part of the mail store the actions use; cmd/mailgate
// adapts *mailbox.Store to it.
type Mailboxes interface {
	// Deliver stores msg in folder ("" or a missing folder: INBOX).
	Deliver(ctx context.Context, account, folder string, msg []byte, quarantine bool) error
	// DeliverFlags is Deliver with IMAP flags set on the stored message.
	DeliverFlags(ctx context.Context, account, folder string, msg []byte, flags []string) error
	FolderExists(account, folder string) bool
	// CreateFolder makes a folder; one that exists already is no error.
	CreateFolder(account, folder string) error
}

// Queue takes new messages (forwards, vacation replies) for delivery.
type Queue interface {
	Submit(ctx context.Context, from string, to []string, msg []byte, sign bool) error
}

// Forwarder, when the Queue has it, takes redirects instead of Submit:
// via is the account address that forwards, so that delivery sends the
// copy as forwarded mail (an ARC set, docs/forwarding.md).
type Forwarder interface {
	Forward(ctx context.Context, from, via string, to []string, msg []byte) error
}

// Filter is the delivery.Sieve of the running server.
type Filter struct {
	Scripts   *scripts.Store
	Mailboxes Mailboxes
	Queue     Queue
	Limits    sieve.Limits
	// Hostname names this server in Message-IDs of replies.
	Hostname string
	// Timeout bounds one script run (its CPU time); 0 means 1s.
	Timeout time.Duration
	Logger  *slog.Logger
	Metrics *Metrics
	Now     func() time.Time
}

var _ delivery.Sieve = (*Filter)(nil)

// loopHeader marks a message this server forwarded with redirect, so the
// same account never forwards it twice (a loop between two accounts or
// two servers running mailgate).
const loopHeader = "X-Mailgate-Sieve-Redirect"

// maxLoopMarks is how many redirects one message may have gone through.
const maxLoopMarks = 5

// Deliver runs the account's script, if any, and carries out its result.
func (f *Filter) Deliver(ctx context.Context, m *delivery.LocalMessage) error {
	script, name, err := f.Scripts.Active(m.Account)
	if script == nil {
		if err != nil {
			f.log().Warn("sieve script unusable; delivering to INBOX", "msgid", m.QueueID, "account", m.Account,
				"script", name, "err", mailmsg.Clean(err.Error()))
			f.Metrics.run("broken")
		}
		return f.Mailboxes.Deliver(ctx, m.Account, m.Folder, m.Body, false)
	}
	msg := sieve.NewMessage(m.Body)
	timeout := f.Timeout
	if timeout <= 0 {
		timeout = time.Second
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	res, err := script.Run(rctx, msg, sieve.RunOptions{
		Envelope: sieve.Envelope{From: m.From, To: m.Rcpt}, Limits: f.Limits,
		MailboxExists: func(n string) bool { return f.Mailboxes.FolderExists(m.Account, n) },
	})
	cancel()
	if err != nil {
		f.log().Warn("sieve script failed; delivering to INBOX (implicit keep)", "msgid", m.QueueID,
			"account", m.Account, "script", name, "err", mailmsg.Clean(err.Error()))
		f.Metrics.run("error")
		return f.Mailboxes.Deliver(ctx, m.Account, m.Folder, m.Body, false)
	}
	f.Metrics.run("ok")
	return f.carryOut(ctx, m, msg, res)
}

// carryOut does the actions: rejection first (it replaces delivery),
// then forwards (a failure is retried before anything is stored), then
// filing, then the vacation reply (best effort: the mail is safe).
func (f *Filter) carryOut(ctx context.Context, m *delivery.LocalMessage, msg *sieve.Message, res *sieve.Result) error {
	for _, a := range res.Actions {
		if a.Kind == sieve.ActReject || a.Kind == sieve.ActEReject {
			f.Metrics.action(string(a.Kind))
			f.log().Info("sieve rejected", "msgid", m.QueueID, "account", m.Account)
			return delivery.Rejected("rejected by the recipient's filter: "+mailmsg.Clean(a.Reason), nil)
		}
	}
	kept, err := f.redirects(ctx, m, msg, res)
	if err != nil {
		return err
	}
	for _, a := range res.Actions {
		if err := f.store(ctx, m, a); err != nil {
			return err
		}
	}
	if !kept && !hasStore(res) && hasKind(res, sieve.ActDiscard) {
		f.log().Info("sieve discarded", "msgid", m.QueueID, "account", m.Account)
	}
	for _, a := range res.Actions {
		if a.Kind == sieve.ActVacation {
			f.vacation(ctx, m, msg, a.Vacation)
		}
	}
	return nil
}

func hasKind(res *sieve.Result, k sieve.Kind) bool {
	for _, a := range res.Actions {
		if a.Kind == k {
			return true
		}
	}
	return false
}

func hasStore(res *sieve.Result) bool {
	for _, a := range res.Actions {
		if a.Kind == sieve.ActKeep || a.Kind == sieve.ActFileinto {
			return true
		}
	}
	return false
}

// store files the message for keep and fileinto.
func (f *Filter) store(ctx context.Context, m *delivery.LocalMessage, a sieve.Action) error {
	folder := ""
	switch a.Kind {
	case sieve.ActKeep:
		folder = m.Folder
	case sieve.ActFileinto:
		folder = a.Mailbox
		if a.Create && !f.Mailboxes.FolderExists(m.Account, folder) {
			if err := f.Mailboxes.CreateFolder(m.Account, folder); err != nil {
				f.log().Warn("sieve fileinto :create failed; filing in INBOX", "msgid", m.QueueID,
					"account", m.Account, "folder", mailmsg.Clean(folder), "err", mailmsg.Clean(err.Error()))
			}
		}
	case sieve.ActDiscard:
		f.Metrics.action("discard")
		return nil
	default:
		return nil
	}
	f.Metrics.action(string(a.Kind))
	if len(a.Flags) > 0 {
		if folder == "" || !f.Mailboxes.FolderExists(m.Account, folder) {
			folder = "INBOX"
		}
		return f.Mailboxes.DeliverFlags(ctx, m.Account, folder, m.Body, a.Flags)
	}
	return f.Mailboxes.Deliver(ctx, m.Account, folder, m.Body, false)
}

// redirects forwards the message; when the loop guard stops a forward,
// the message is kept instead (kept reports that).
func (f *Filter) redirects(ctx context.Context, m *delivery.LocalMessage, msg *sieve.Message, res *sieve.Result) (bool, error) {
	marks := msg.Header(loopHeader)
	kept := false
	for _, a := range res.Actions {
		if a.Kind != sieve.ActRedirect {
			continue
		}
		if len(marks) >= maxLoopMarks || containsFold(marks, m.Rcpt) {
			f.log().Warn("sieve redirect refused: the message was forwarded here before (loop)", "msgid", m.QueueID,
				"account", m.Account, "to", mailmsg.Clean(a.Address))
			f.Metrics.failure("redirect_loop")
			if !kept && !res.Keeps() {
				kept = true
				if err := f.Mailboxes.Deliver(ctx, m.Account, m.Folder, m.Body, false); err != nil {
					return kept, err
				}
			}
			continue
		}
		from := m.Rcpt // bounces of the forward go to the user
		if m.From == "" {
			from = "" // never make a bounce bounceable
		}
		out := append([]byte(loopHeader+": "+mailmsg.Clean(m.Rcpt)+"\r\n"), m.Body...)
		if err := f.forward(ctx, from, m.Rcpt, a.Address, out); err != nil {
			return kept, fmt.Errorf("sieve redirect: %w", err)
		}
		f.Metrics.action("redirect")
		f.log().Info("sieve redirected", "msgid", m.QueueID, "account", m.Account, "to", mailmsg.Clean(a.Address))
	}
	return kept, nil
}

// forward queues a redirect, as forwarded mail when the queue can.
func (f *Filter) forward(ctx context.Context, from, via, to string, msg []byte) error {
	if fq, ok := f.Queue.(Forwarder); ok {
		return fq.Forward(ctx, from, via, []string{to}, msg)
	}
	return f.Queue.Submit(ctx, from, []string{to}, msg, false)
}

func (f *Filter) log() *slog.Logger {
	if f.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return f.Logger
}

func (f *Filter) now() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return time.Now()
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(strings.TrimSpace(x), s) {
			return true
		}
	}
	return false
}
