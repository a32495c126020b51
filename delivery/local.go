package delivery

import (
	"context"
	"errors"
	"log/slog"

	"mailgate/internal/mailmsg"
	"mailgate/internal/smtpdata"
)

// Mailboxes stores a message for a local account; *mailbox.Store
// implements it. folder "" means INBOX; quarantine files it as junk.
type Mailboxes interface {
	Deliver(ctx context.Context, account, folder string, msg []byte, quarantine bool) error
}

// Directory resolves a local address (after alias expansion) to the
// account and folder that receive it.
type Directory interface {
	Lookup(addr string) (account, folder string, ok bool)
}

// Sieve runs the account's active filter script on a message and carries
// out what it says (sieve/filter implements it); with no active script it
// stores the message in folder like Mailboxes.Deliver. Errors are
// classified like the store's.
type Sieve interface {
	Deliver(ctx context.Context, m *LocalMessage) error
}

// LocalMessage is one recipient's copy for Sieve.
type LocalMessage struct {
	QueueID, From, Rcpt string
	Account, Folder     string
	Body                []byte // CRLF line ends
}

// Local hands each recipient's copy to the mailbox store.
type Local struct {
	Mailboxes Mailboxes
	Directory Directory
	// Sieve, when set, files messages for accounts with an active
	// script. Quarantined messages bypass it: they go to Junk unanswered.
	Sieve Sieve
	// Classify maps a store error to a delivery error, e.g. a quota error
	// to MailboxFull; nil, or a nil answer, falls back to an error's
	// Permanent() bool method, else a temporary 451 4.3.0.
	Classify func(error) *mailmsg.Error
	Logger   *slog.Logger
	Metrics  *Metrics
}

var _ Transport = (*Local)(nil)

// MailboxFull is the error for a full mailbox: 452 4.2.2 while it may
// empty, 552 5.2.2 when the message is larger than the whole quota.
func MailboxFull(permanent bool, cause error) *mailmsg.Error {
	if permanent {
		e := permErr(mailmsg.CmdLocal, "", "5.2.2", "the message is larger than the mailbox quota", cause)
		e.Code = 552
		return e
	}
	e := tempErr(mailmsg.CmdLocal, "", "4.2.2", "the mailbox is full", cause)
	e.Code = 452
	return e
}

// Rejected is the error for a message a recipient's Sieve script
// rejected after it was accepted (RFC 5429): the queue bounces it with
// the script's reason.
func Rejected(reason string, cause error) *mailmsg.Error {
	return permErr(mailmsg.CmdLocal, "", "5.7.1", reason, cause)
}

// Deliver stores the message for each recipient.
func (l *Local) Deliver(ctx context.Context, req *mailmsg.Attempt) []mailmsg.Result {
	res := make([]mailmsg.Result, len(req.Recipients))
	for i, r := range req.Recipients {
		res[i] = mailmsg.Result{Rcpt: r.Addr, Err: l.one(ctx, req, r.Addr)}
	}
	logResults(orDiscard(l.Logger), l.Metrics, RouteLocal, "", "", req, res)
	return res
}

func (l *Local) one(ctx context.Context, req *mailmsg.Attempt, addr string) error {
	account, folder, ok := l.Directory.Lookup(addr)
	if d, isDir := l.Directory.(interface{ Unreachable() bool }); !ok && isDir && d.Unreachable() {
		// The account directory (LDAP) is down: the address may exist.
		return tempErr(mailmsg.CmdLocal, "", "4.4.3", "cannot look "+addr+" up right now", nil)
	}
	if !ok {
		return permErr(mailmsg.CmdLocal, "", "5.1.1", "no mailbox here for "+addr, nil)
	}
	var err error
	if l.Sieve != nil && !req.Quarantine {
		err = l.Sieve.Deliver(ctx, &LocalMessage{QueueID: req.ID, From: req.From, Rcpt: addr,
			Account: account, Folder: folder, Body: smtpdata.Normalize(req.Body)})
	} else {
		err = l.Mailboxes.Deliver(ctx, account, folder, smtpdata.Normalize(req.Body), req.Quarantine)
	}
	if err == nil {
		return nil
	}
	var de *mailmsg.Error
	if errors.As(err, &de) {
		return de // already a delivery verdict (a Sieve reject)
	}
	if l.Classify != nil {
		if e := l.Classify(err); e != nil {
			return e
		}
	}
	var p interface{ Permanent() bool }
	if errors.As(err, &p) && p.Permanent() {
		return permErr(mailmsg.CmdLocal, "", "5.2.0", "the mailbox refused the message", err)
	}
	return tempErr(mailmsg.CmdLocal, "", "4.3.0", "local delivery failed; will retry", err)
}
