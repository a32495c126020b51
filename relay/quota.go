package relay

import (
	"fmt"

	"mailgate/internal/mailmsg"
)

// Quotas tells the relay how full the mailbox behind a local delivery
// target is, so that mail a mailbox cannot take is refused during the
// SMTP transaction (the client keeps the message and its sender hears
// from it) instead of accepted and bounced later to a sender address
// that may be forged.
type Quotas interface {
	// Usage is what the mailbox receiving target (an address from
	// Users.Expand) stores and may store, in bytes (limit 0: no limit);
	// ok is false when target is not a local mailbox.
	Usage(target string) (used, limit int64, ok bool)
}

// Replies for a mailbox over its quota (RFC 3463 4.2.2, 5.2.2).
func errMailboxFull(rcpt string) error {
	return reply(452, 4, 2, 2, fmt.Sprintf("Mailbox of <%s> is full; try again later", mailmsg.Clean(rcpt)))
}

func errTooBigForMailbox(rcpt string, size, limit int64) error {
	return reply(552, 5, 2, 2, fmt.Sprintf("Message too large for the mailbox of <%s>: %d bytes, and the whole mailbox holds %d; send a smaller message",
		mailmsg.Clean(rcpt), size, limit))
}

// checkFull refuses a recipient (at RCPT) whose mailbox, or one of whose
// alias targets' mailboxes, is already full. to is the address the client
// gave: the reply never names an alias's private targets.
func (ss *session) checkFull(to string, targets []string) error {
	q := ss.srv.opts.Quotas
	if q == nil {
		return nil
	}
	for _, t := range targets {
		if used, limit, ok := q.Usage(t); ok && limit > 0 && used >= limit {
			return errMailboxFull(to)
		}
	}
	return nil
}

// checkRoom refuses the message (after DATA) when a local recipient's
// mailbox cannot take size bytes: 552 when it is larger than the whole
// quota, 452 when it may fit once the mailbox is emptied. SMTP has one
// reply to DATA for all recipients, so one full mailbox refuses the
// message for all of them; RCPT already turned away mailboxes that were
// full before the message came.
func (ss *session) checkRoom(rcpts []mailmsg.Recipient, size int64) error {
	q := ss.srv.opts.Quotas
	if q == nil {
		return nil
	}
	var full error
	for _, r := range rcpts {
		used, limit, ok := q.Usage(r.Addr)
		if !ok || limit <= 0 {
			continue
		}
		given := r.Addr
		if r.Orig != "" {
			given = r.Orig
		}
		switch {
		case size > limit:
			return errTooBigForMailbox(given, size, limit)
		case used+size > limit && full == nil:
			full = errMailboxFull(given)
		}
	}
	return full
}
