package relay

import (
	"crypto/tls"
	"encoding/base64"
	"strings"
	"time"

	"github.com/emersion/go-smtp"
)

// errBadBase64 answers a SASL response that is not base64 (RFC 4954
// section 4: the client must encode it): a syntax error in the command,
// so 501 5.5.2, saying what to send instead.
var errBadBase64 = errReply(501, code(5, 5, 2), "Invalid base64 data; send the SASL response base64-encoded (RFC 4954 section 4)")

// errSASLSyntax answers a decoded response that does not parse as the
// mechanism's message (PLAIN without its two NULs, say).
var errSASLSyntax = errReply(501, code(5, 5, 2), "Malformed SASL response; for PLAIN send base64 of NUL, user name, NUL, password")

// auth runs an AUTH exchange (RFC 4954). The session chooses the
// mechanism and checks the credentials; this decodes what the client
// sends and answers bad base64 with 501, counted as a failed login.
func (c *smtpConn) auth(arg string) bool {
	switch f := strings.Fields(arg); {
	case c.helo == "":
		c.reply(502, code(5, 5, 1), "Please introduce yourself first.")
	case c.didAuth:
		c.reply(503, code(5, 5, 1), "Already authenticated")
	case len(f) == 0:
		c.reply(502, code(5, 5, 4), "Missing parameter")
	case len(f) > 2:
		c.reply(501, code(5, 5, 4), "Too many arguments; write AUTH mechanism [initial-response]")
	default:
		return c.saslExchange(strings.ToUpper(f[0]), f[1:])
	}
	return true
}

// saslExchange runs the challenges and responses of mech.
func (c *smtpConn) saslExchange(mech string, initial []string) bool {
	var resp []byte
	if len(initial) == 1 {
		var ok bool
		if resp, ok = decodeSASL(initial[0]); !ok {
			c.replyErr(c.sess.badSASL(mech, errBadBase64))
			return true
		}
	}
	server, err := c.sess.Auth(mech)
	if err != nil {
		c.replyErr(err)
		return true
	}
	for {
		challenge, done, err := server.Next(resp)
		if err != nil {
			c.replyErr(c.saslError(mech, err))
			return true
		}
		if done {
			break
		}
		c.reply(334, noCode, base64.StdEncoding.EncodeToString(challenge))
		line, err := c.readLine()
		if err != nil {
			c.readFailed(err)
			return false
		}
		if line == "*" {
			c.reply(501, code(5, 0, 0), "Negotiation cancelled")
			return true
		}
		var ok bool
		if resp, ok = decodeSASL(line); !ok {
			c.replyErr(c.sess.badSASL(mech, errBadBase64))
			return true
		}
	}
	c.didAuth = true
	c.reply(235, code(2, 0, 0), "Authentication succeeded")
	return true
}

// saslError is the reply to a failed step: the session's own reply, or
// for the mechanism's parse errors (go-sasl returns plain errors) a 501
// counted as a failed login.
func (c *smtpConn) saslError(mech string, err error) error {
	if _, ok := err.(*smtp.SMTPError); ok {
		return err
	}
	return c.sess.badSASL(mech, errSASLSyntax)
}

// decodeSASL decodes one response; "=" is the empty one.
func decodeSASL(s string) ([]byte, bool) {
	if s == "=" {
		return []byte{}, true
	}
	b, err := base64.StdEncoding.DecodeString(s)
	return b, err == nil
}

// startTLS answers STARTTLS (RFC 3207): 220, then the handshake on the
// connection itself, under this layer. Whatever the client sent after
// the command in clear is dropped unread (a man in the middle could have
// put it there), and all state is discarded: the session ends and the
// client must say EHLO again (section 4.2).
func (c *smtpConn) startTLS() bool {
	if c.tls != nil {
		c.reply(502, code(5, 5, 1), "Already running in TLS")
		return true
	}
	if !c.canStartTLS() {
		c.reply(502, code(5, 5, 1), "TLS not supported")
		return true
	}
	c.reply(220, code(2, 0, 0), "Ready to start TLS")
	if c.flush() != nil {
		return false
	}
	tc := tls.Server(c.raw, c.srv.opts.TLS)
	c.wmu.Lock()
	c.conn = tc
	c.w.Reset(tc)
	c.wmu.Unlock()
	c.r.Reset(tc) // drops the bytes that came after STARTTLS in clear
	tc.SetDeadline(time.Now().Add(c.lim.CommandTimeout.D()))
	if err := tc.Handshake(); err != nil {
		return false
	}
	tc.SetDeadline(time.Time{})
	st := tc.ConnectionState()
	c.tls = &st
	c.reset()
	if c.sess != nil {
		c.sess.Logout()
		c.sess = nil
	}
	c.helo, c.didAuth = "", false
	return true
}
