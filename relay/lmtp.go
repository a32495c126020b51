package relay

import (
	"io"

	"github.com/emersion/go-smtp"

	"mailgate/queue"
)

// lmtpSession is a session on an lmtp listener (RFC 2033). It is an SMTP
// session with no AUTH and no STARTTLS whose DATA has one reply per
// recipient: RCPT remembers what each address given expands to, so that
// a mailbox without room for the message refuses that address alone
// (452 4.2.2 or 552 5.2.2) while the others are queued, durably, before
// their 250. Everything else (content checks, limits, filters, aliases,
// the queue and the local delivery behind it) is the SMTP session's.
type lmtpSession struct {
	*session
	given []lmtpRcpt // in RCPT order, one per accepted RCPT
}

// lmtpRcpt is one accepted RCPT: the address as given and the local
// targets it expands to.
type lmtpRcpt struct {
	addr    string
	targets []string
}

var _ smtp.LMTPSession = (*lmtpSession)(nil)

// Rcpt accepts a recipient like SMTP and remembers its targets.
func (ls *lmtpSession) Rcpt(to string, opts *smtp.RcptOptions) error {
	if err := ls.session.Rcpt(to, opts); err != nil {
		return err
	}
	targets, _ := ls.route(to) // accepted just now, so it routes
	ls.given = append(ls.given, lmtpRcpt{addr: to, targets: targets})
	return nil
}

// Reset ends the transaction (RSET, a new LHLO, the end of DATA).
func (ls *lmtpSession) Reset() {
	ls.given = nil
	ls.session.Reset()
}

// LMTPData receives the message once and answers each recipient. A
// refusal of the message itself (size, bare LF, a filter) goes to every
// recipient: go-smtp fills in the error returned for those without a
// status of their own.
//
// go-smtp runs it on a goroutine of its own, while the connection's
// goroutine waits for the first status. The content is read here
// (front.readContent) all the same: that goroutine reads nothing until a
// status is set, and every status is set only after the whole content
// was read and spooled, so the connection is never read by two.
func (ls *lmtpSession) LMTPData(r io.Reader, status smtp.StatusCollector) error {
	refused := map[string]error{}
	err := ls.receive(r, func(env *queue.Envelope, size int64) error {
		return ls.keepRoom(env, size, refused)
	})
	if len(refused) == 0 || (!accepted(err) && !ls.allIn(refused)) {
		return err
	}
	for _, g := range ls.given {
		if e, ok := refused[g.addr]; ok {
			status.SetStatus(g.addr, e)
		} else {
			status.SetStatus(g.addr, err)
		}
	}
	return nil
}

// allIn reports whether every given address is in refused.
func (ls *lmtpSession) allIn(refused map[string]error) bool {
	for _, g := range ls.given {
		if refused[g.addr] == nil {
			return false
		}
	}
	return true
}

// accepted reports whether err is the 250 that receive answers with.
func accepted(err error) bool {
	se, ok := err.(*smtp.SMTPError)
	return ok && se.Code == 250
}

// keepRoom refuses each given address one of whose mailboxes cannot take
// size bytes, and drops from env the targets that only refused addresses
// lead to. With every address refused, the message is refused with the
// first one's reply (and LMTPData answers each with its own).
func (ls *lmtpSession) keepRoom(env *queue.Envelope, size int64, refused map[string]error) error {
	keep := map[string]bool{}
	for _, g := range ls.given {
		if err := ls.roomFor(g, size); err != nil {
			refused[g.addr] = err
			ls.srv.metrics.reject(ls.listener.Name, "data", codeOf(err))
			ls.log.Info("rejected", "stage", "data", "rcpt", clean(g.addr), "code", codeOf(err))
			continue
		}
		for _, t := range g.targets {
			keep[t] = true
		}
	}
	var rcpts []queue.Recipient
	for _, rc := range env.Recipients {
		if keep[rc.Addr] {
			rcpts = append(rcpts, rc)
		}
	}
	if len(rcpts) == 0 {
		return refused[ls.given[0].addr]
	}
	env.Recipients = rcpts
	return nil
}

// roomFor is checkRoom for the targets of one given address; the reply
// names the address as given, never an alias's private targets.
func (ls *lmtpSession) roomFor(g lmtpRcpt, size int64) error {
	rcpts := make([]queue.Recipient, len(g.targets))
	for i, t := range g.targets {
		rcpts[i] = queue.Recipient{Addr: t, Orig: g.addr}
	}
	return ls.checkRoom(rcpts, size)
}
