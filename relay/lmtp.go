package relay

import (
	"errors"
	"io"
	"mailgate/internal/mailmsg"
	"strings"

	"github.com/emersion/go-smtp"

	"mailgate/config"
)

// LMTP (RFC 2033) is served by the same protocol layer and session as
// SMTP, on lmtp listeners: LHLO instead of HELO and EHLO, no AUTH and no
// STARTTLS (the listener is meant for loopback or a UNIX socket, and
// recipients must be local since no one logs in), and after the content
// one reply per accepted RCPT, in RCPT order. RCPT remembers what each
// address given expands to, so that a mailbox without room for the
// message refuses that address alone (452 4.2.2 or 552 5.2.2) while the
// others are queued, durably, before their 250. Everything else (content
// checks, limits, filters, aliases, the queue and the local delivery
// behind it) is the SMTP session's.

// lmtpRcpt is one accepted RCPT of an LMTP transaction: the address as
// given and the local targets it expands to.
type lmtpRcpt struct {
	addr    string
	targets []string
}

// isLMTP reports whether l speaks LMTP.
func isLMTP(l config.Listener) bool { return l.Protocol == config.ProtoLMTP }

// greetingWord names the protocol in the 220 greeting.
func (c *smtpConn) greetingWord() string {
	if c.lmtp {
		return "LMTP"
	}
	return "ESMTP"
}

// wrongHello answers the greeting command of the other protocol, as
// go-smtp did: HELO and EHLO on LMTP, LHLO on SMTP (RFC 2033 section 4.1).
func (c *smtpConn) wrongHello(verb string) bool {
	if c.lmtp {
		return c.protocolError(500, code(5, 5, 1), "This is a LMTP server, use LHLO")
	}
	return c.protocolError(500, code(5, 5, 1), "This is not a LMTP server")
}

// receive hands the content to the session and returns the replies to
// send: the one verdict of SMTP, or one per accepted RCPT for LMTP.
func (c *smtpConn) receive(r io.Reader) []error {
	if c.lmtp {
		return c.sess.DataLMTP(r)
	}
	return []error{c.sess.Data(r)}
}

// forEach is err as the replies to a message: once for SMTP, once per
// accepted RCPT for LMTP (a refusal of the message itself).
func (c *smtpConn) forEach(err error) []error {
	if !c.lmtp || c.sess == nil {
		return []error{err}
	}
	errs := make([]error, len(c.sess.given))
	for i := range errs {
		errs[i] = err
	}
	return errs
}

// replyData sends the replies to a message: nil is 250. LMTP replies
// name their recipient, as go-smtp's did ("<addr> OK: queued as ...").
func (c *smtpConn) replyData(errs []error) {
	for i, err := range errs {
		se := errReply(250, code(2, 0, 0), "OK: queued")
		if err != nil && !errors.As(err, &se) {
			c.srv.log.Error("smtp: unexpected error from session", "err", err)
			se = errInternal
		}
		msg := se.Message
		if c.lmtp && i < len(c.sess.given) {
			msg = "<" + c.sess.given[i].addr + "> " + msg
		}
		c.reply(se.Code, se.EnhancedCode, msg)
	}
}

// DataLMTP receives the message once and returns one reply per accepted
// RCPT, in RCPT order. A refusal of the message itself (size, bare LF, a
// filter) is every recipient's reply; a mailbox without room refuses the
// addresses that lead to it, and the message is queued for the others
// before their 250.
func (ss *session) DataLMTP(r io.Reader) []error {
	if len(ss.given) == 0 { // never: the protocol layer asks for RCPT first
		return []error{ss.Data(r)}
	}
	refused := make([]error, len(ss.given))
	err := ss.receive(r, func(env *mailmsg.Envelope, size int64) error {
		return ss.keepRoom(env, size, refused)
	})
	out := make([]error, len(ss.given))
	for i, e := range refused {
		switch {
		case e == nil:
			out[i] = err
		case accepted(err):
			// Counted here: a refusal of the whole message was counted
			// once by receive.
			out[i] = e
			ss.srv.metrics.reject(ss.listener.Name, "data", codeOf(e))
			ss.log.Info("rejected", "stage", "data", "rcpt", mailmsg.Clean(ss.given[i].addr), "code", codeOf(e))
		default:
			out[i] = e
		}
	}
	return out
}

// accepted reports whether err is the 250 that receive answers with.
func accepted(err error) bool {
	se, ok := err.(*smtp.SMTPError)
	return ok && se.Code == 250
}

// keepRoom refuses each given address one of whose mailboxes cannot take
// size bytes (refused[i] for given[i]), and drops from env the targets
// that only refused addresses lead to. With every address refused, the
// message is refused with the first one's reply.
func (ss *session) keepRoom(env *mailmsg.Envelope, size int64, refused []error) error {
	keep := map[string]bool{}
	for i, g := range ss.given {
		if refused[i] = ss.roomFor(g, size); refused[i] != nil {
			continue
		}
		for _, t := range g.targets {
			keep[strings.ToLower(t)] = true
		}
	}
	var rcpts []mailmsg.Recipient
	for _, rc := range env.Recipients {
		if keep[strings.ToLower(rc.Addr)] {
			rcpts = append(rcpts, rc)
		}
	}
	if len(rcpts) == 0 && len(refused) > 0 {
		return refused[0]
	}
	env.Recipients = rcpts
	return nil
}

// roomFor is checkRoom for the targets of one given address; the reply
// names the address as given, never an alias's private targets.
func (ss *session) roomFor(g lmtpRcpt, size int64) error {
	rcpts := make([]mailmsg.Recipient, len(g.targets))
	for i, t := range g.targets {
		rcpts[i] = mailmsg.Recipient{Addr: t, Orig: g.addr}
	}
	return ss.checkRoom(rcpts, size)
}
