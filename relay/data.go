package relay

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"mailgate/config"
	"mailgate/filters"
	"mailgate/internal/hops"
	"mailgate/internal/mailmsg"
)

// Data receives the message, checks it, runs the filters and has it on
// stable storage before answering 250. The protocol layer reads the rest
// of the data to the real end (CRLF.CRLF) after any rejection here, so a
// rejected message cannot leave commands behind.
func (ss *session) Data(r io.Reader) error {
	return ss.receive(r, func(env *mailmsg.Envelope, size int64) error { return ss.checkRoom(env.Recipients, size) })
}

// roomCheck decides, once the message's size is known, whether the
// local mailboxes can take it: an error refuses the message; it may also
// drop recipients from env (LMTP answers each recipient on its own).
type roomCheck func(env *mailmsg.Envelope, size int64) error

// receive is Data with the mailbox room check of the protocol.
func (ss *session) receive(r io.Reader, room roomCheck) error {
	if ss.env == nil || len(ss.env.Recipients) == 0 {
		return ss.fail("data", reply(503, 5, 5, 1, "Send MAIL FROM and RCPT TO first"))
	}
	c, err := ss.readContent(r)
	defer ss.done(c)
	if err != nil {
		return ss.fail("data", ss.readError(r, err))
	}
	// smuggled: a "\r\n.\r" that the DATA reader removed (see conn.go).
	if c.ends.bare || ss.smuggled {
		return ss.fail("data", errBareLineEnding)
	}
	// NUL is no text (RFC 5321 section 4.5.2 via RFC 6152); "\r\n\x00.\r\n"
	// is a smuggling sequence some next hops read as the end of data.
	if c.ends.nul {
		return ss.fail("data", errNUL)
	}
	header, body, err := c.message()
	if err != nil {
		return ss.fail("data", err)
	}
	if err := ss.checkLoop(header); err != nil {
		return ss.fail("data", err)
	}
	env := ss.env
	env.ID = mailmsg.NewID(ss.srv.now())
	log := ss.log.With("msgid", env.ID)
	msg := &filters.Message{From: env.From, Header: header, Body: body}
	for _, rc := range env.Recipients {
		msg.Recipients = append(msg.Recipients, rc.Addr)
	}
	if err := ss.txn.Data(ss.ctx, msg); err != nil {
		return ss.fail("data", err)
	}
	if msg.Discard {
		log.Info("discarded by filter", "from", mailmsg.Clean(env.From), "rcpts", len(env.Recipients))
		return &smtp.SMTPError{Code: 250, EnhancedCode: smtp.EnhancedCode{2, 0, 0}, Message: "OK: queued as " + env.ID}
	}
	env.Quarantine = msg.Quarantine
	if err := room(env, int64(len(msg.Prepend)+len(msg.Header))+msg.Body.Size()); err != nil {
		return ss.fail("data", err)
	}
	size, err := ss.enqueue(env, c, msg, header, body)
	if err != nil {
		return ss.fail("data", err)
	}
	ss.srv.metrics.accepted.WithLabelValues(ss.listener.Name).Inc()
	ss.srv.metrics.msgBytes.Observe(float64(size))
	log.Info("accepted", "from", mailmsg.Clean(env.From), "rcpts", len(env.Recipients), "size", size)
	return &smtp.SMTPError{Code: 250, EnhancedCode: smtp.EnhancedCode{2, 0, 0}, Message: "OK: queued as " + env.ID}
}

// enqueue spools the message: the Received header, what the filters
// prepended, then Header and Body as they left the filters (header and
// body are the content as read, to see whether they changed). A message
// in memory is built in one slice, in place when it can; one on disk is
// copied from its file by the spool.
func (ss *session) enqueue(env *mailmsg.Envelope, c content, msg *filters.Message, header []byte, body filters.Body) (int64, error) {
	head := ss.receivedHeader(env)
	q := ss.srv.opts.Queue
	if c.file != nil {
		top := make([]byte, 0, len(head)+len(msg.Prepend)+len(msg.Header))
		top = append(append(append(top, head...), msg.Prepend...), msg.Header...)
		return int64(len(top)) + msg.Body.Size(), q.EnqueueFrom(ss.ctx, env, top, msg.Body)
	}
	raw := c.bytes()
	if !sameBytes(msg.Header, header) || msg.Body != body {
		b := make([]byte, msg.Body.Size())
		if _, err := msg.Body.ReadAt(b, 0); err != nil && err != io.EOF {
			return 0, err
		}
		raw = append(append(make([]byte, 0, len(msg.Header)+len(b)), msg.Header...), b...)
	}
	full := c.withHeaders(head, msg.Prepend, raw)
	return int64(len(full)), q.Enqueue(ss.ctx, env, full)
}

// sameBytes reports whether a and b are the same slice of the same array.
func sameBytes(a, b []byte) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// done closes c and, for a message that outgrew memory (accepted or
// not), has its buffers handed back to the system.
func (ss *session) done(c content) {
	c.close()
	if c.size > spillAt && ss.srv.opts.Release != nil {
		ss.srv.opts.Release()
	}
}

// checkLoop refuses a message that has passed too many hops: with the
// Received field we would add it would carry more than
// limits.max_received_headers (RFC 5321 section 6.3). This catches a
// forward that loops between servers, our own aliases included, before
// the message is accepted, instead of bouncing it later.
func (ss *session) checkLoop(raw []byte) error {
	limit := ss.srv.conf().Limits.MaxReceivedHeaders
	if n := hops.Count(raw); n+1 > limit {
		return reply(554, 5, 4, 6, fmt.Sprintf("Routing loop detected: the message already carries %d Received fields "+
			"and %d is the limit; check the forwarding between the servers it passed", n, limit))
	}
	return nil
}

// readError turns a failure to read the message into the reply: the
// client's own mistakes get a 5xx that names them, not "internal error".
func (ss *session) readError(r io.Reader, err error) error {
	switch {
	case errors.Is(err, smtp.ErrDataTooLarge):
		return smtp.ErrDataTooLarge
	case errors.Is(err, smtp.ErrTooLongLine):
		return reply(500, 5, 5, 2, fmt.Sprintf("Line too long; keep lines within %d octets (RFC 5321 section 4.5.3.1.6)", ss.srv.conf().Limits.MaxLineLength))
	}
	if _, bdat := r.(*io.PipeReader); bdat {
		return err // the protocol layer ended the chunk transfer (RSET, a new BDAT error)
	}
	return ss.abortData(err)
}

// receivedHeader builds the RFC 5321 §4.4 trace field, with the protocol
// keyword of RFC 3848 and the TLS parameters.
func (ss *session) receivedHeader(env *mailmsg.Envelope) []byte {
	proto := "ESMTP"
	switch {
	case ss.listener.Protocol == config.ProtoLMTP && env.UTF8:
		proto = "UTF8LMTP" // RFC 6531 section 3.7.4
	case ss.listener.Protocol == config.ProtoLMTP:
		proto = "LMTP" // RFC 3848
	case env.UTF8:
		proto = "UTF8SMTP"
	}
	if ss.client.TLS != nil {
		proto += "S"
	}
	if ss.client.Account != "" {
		proto += "A"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Received: from %s (%s)\r\n\tby %s (mailgate) with %s id %s",
		traceWord(ss.client.Helo), addressLiteral(ss.client.IP), ss.srv.conf().Hostname, proto, env.ID)
	if ss.client.TLS != nil {
		fmt.Fprintf(&b, "\r\n\t(version=%s cipher=%s)", tls.VersionName(ss.client.TLS.Version), tls.CipherSuiteName(ss.client.TLS.CipherSuite))
	}
	if ss.client.Account != "" {
		fmt.Fprintf(&b, "\r\n\t(authenticated as %s)", traceWord(ss.client.Account))
	}
	if len(env.Recipients) == 1 {
		// The address the client gave (RFC 5321 section 4.4), not what an
		// alias expanded to: that target may be private.
		r := env.Recipients[0]
		addr := r.Addr
		if r.Orig != "" {
			addr = r.Orig
		}
		fmt.Fprintf(&b, "\r\n\tfor <%s>", traceWord(addr))
	}
	fmt.Fprintf(&b, ";\r\n\t%s\r\n", ss.srv.now().Format(time.RFC1123Z))
	return []byte(b.String())
}

// addressLiteral writes the client IP as RFC 5321 section 4.1.3 wants it
// in a Received header: [192.0.2.1] or [IPv6:2001:db8::1].
func addressLiteral(ip net.IP) string {
	switch {
	case ip == nil:
		return "[unknown]"
	case ip.To4() != nil:
		return "[" + ip.String() + "]"
	}
	return "[IPv6:" + ip.String() + "]"
}

// traceWord keeps client-supplied text from breaking the header: no
// control characters, parentheses or angle brackets.
func traceWord(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x21 || r == 0x7f || strings.ContainsRune("()<>;\\\"", r) {
			return -1
		}
		return r
	}, s)
	if len(s) > 255 {
		s = s[:255]
	}
	if s == "" {
		return "unknown"
	}
	return s
}
