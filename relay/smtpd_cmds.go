package relay

import (
	"fmt"
	"strings"

	"github.com/emersion/go-smtp"

	"mailgate/config"
	"mailgate/internal/mailmsg"
)

// handle runs one command line and reports whether the conversation goes
// on. The replies to mistakes are those go-smtp gave, which clients and
// our tests know.
func (c *smtpConn) handle(line string) bool {
	verb, arg := splitCommand(line)
	switch verb {
	case "":
		return c.protocolError(500, code(5, 5, 2), "Error: bad syntax")
	case "HELO", "EHLO", "LHLO":
		if (verb == "LHLO") != c.lmtp {
			return c.wrongHello(verb)
		}
		c.hello(verb != "HELO", arg)
	case "MAIL":
		c.mail(arg)
	case "RCPT":
		c.rcpt(arg)
	case "DATA":
		return c.data(arg)
	case "BDAT":
		return c.bdatCmd(arg)
	case "RSET":
		c.reset()
		c.reply(250, code(2, 0, 0), "Session reset")
	case "NOOP":
		c.reply(250, code(2, 0, 0), "I have successfully done nothing")
	case "VRFY":
		c.reply(252, code(2, 5, 0), "Cannot VRFY user, but will accept message")
	case "QUIT":
		c.reply(221, code(2, 0, 0), "Bye")
		return false
	case "AUTH":
		return c.auth(arg)
	case "STARTTLS":
		return c.startTLS()
	case "SEND", "SOML", "SAML", "EXPN", "HELP", "TURN":
		c.reply(502, code(5, 5, 1), verb+" command not implemented")
	default:
		return c.protocolError(500, code(5, 5, 2), fmt.Sprintf("Syntax errors, %s command unrecognized", mailmsg.Clean(verb)))
	}
	return true
}

// splitCommand returns the command verb in capitals and its argument.
func splitCommand(line string) (verb, arg string) {
	line = strings.TrimSpace(line)
	verb, arg, _ = strings.Cut(line, " ")
	if len(verb) > 16 {
		verb = verb[:16]
	}
	return strings.ToUpper(verb), strings.TrimSpace(arg)
}

// hello answers HELO, EHLO and LMTP's LHLO. The first starts the session; a later one
// resets the transaction and gives the filters the new name.
func (c *smtpConn) hello(extended bool, arg string) {
	domain, _, _ := strings.Cut(arg, " ")
	if domain == "" {
		c.reply(501, code(5, 5, 2), "Domain/address argument required for HELO")
		return
	}
	c.helo = domain
	if c.sess != nil {
		c.reset()
	} else {
		ss, err := c.srv.newSession(c.be, c)
		if err != nil {
			c.helo = ""
			c.replyErr(err)
			return
		}
		c.sess = ss
	}
	if !extended {
		c.reply(250, code(2, 0, 0), "Hello "+domain)
		return
	}
	c.reply(250, noCode, append([]string{"Hello " + domain}, c.extensions()...)...)
}

// extensions are what EHLO advertises on this connection now.
func (c *smtpConn) extensions() []string {
	ext := []string{"PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "CHUNKING"}
	if c.canStartTLS() {
		ext = append(ext, "STARTTLS")
	}
	if mechs := c.sess.AuthMechanisms(); len(mechs) > 0 {
		ext = append(ext, "AUTH "+strings.Join(mechs, " "))
	}
	ext = append(ext, "SMTPUTF8")
	if c.tls != nil {
		ext = append(ext, "REQUIRETLS")
	}
	lim := c.lim
	ext = append(ext, "DSN", fmt.Sprintf("SIZE %d", lim.MaxMessageSize))
	if lim.MaxRecipients > 0 {
		ext = append(ext, fmt.Sprintf("LIMITS RCPTMAX=%d", lim.MaxRecipients))
	}
	return ext
}

// canStartTLS: a listener in clear with a certificate, not yet upgraded;
// never LMTP (its peer is on loopback or a UNIX socket).
func (c *smtpConn) canStartTLS() bool {
	return c.tls == nil && c.srv.opts.TLS != nil && c.listener.Protocol != config.ProtoSubmissions && !c.lmtp
}

// mail answers MAIL FROM.
func (c *smtpConn) mail(arg string) {
	if c.helo == "" {
		c.reply(502, code(5, 5, 1), "Please introduce yourself first.")
		return
	}
	if c.bdat != nil {
		c.reply(502, code(5, 5, 1), "MAIL not allowed during message transfer")
		return
	}
	from, opts, r := parseMail(arg, int64(c.lim.MaxMessageSize))
	if r != nil {
		c.replyErr(r)
		return
	}
	if err := c.sess.Mail(from, opts); err != nil {
		c.replyErr(err)
		return
	}
	c.fromOK = true
	c.reply(250, code(2, 0, 0), fmt.Sprintf("Roger, accepting mail from <%s>", from))
}

// rcpt answers RCPT TO.
func (c *smtpConn) rcpt(arg string) {
	if !c.fromOK {
		c.reply(502, code(5, 5, 1), "Missing MAIL FROM command.")
		return
	}
	if c.bdat != nil {
		c.reply(502, code(5, 5, 1), "RCPT not allowed during message transfer")
		return
	}
	to, rest, r := parseRcptPath(arg)
	if r != nil {
		c.replyErr(r)
		return
	}
	if max := c.lim.MaxRecipients; max > 0 && c.rcpts >= max {
		c.reply(452, code(4, 5, 3), fmt.Sprintf("Maximum limit of %d recipients reached", max))
		return
	}
	opts, r := parseRcptParams(rest)
	if r != nil {
		c.replyErr(r)
		return
	}
	if err := c.sess.Rcpt(to, opts); err != nil {
		c.replyErr(err)
		return
	}
	c.rcpts++
	c.reply(250, code(2, 0, 0), fmt.Sprintf("I'll make sure <%s> gets this", to))
}

// reset ends the transaction (RSET, a new EHLO or LHLO, the end of DATA).
func (c *smtpConn) reset() {
	c.endBDAT()
	if c.sess != nil {
		c.sess.Reset()
	}
	c.fromOK, c.rcpts = false, 0
}

// errReply builds the reply for a syntax error of the protocol layer.
func errReply(status int, enh smtp.EnhancedCode, msg string) *smtp.SMTPError {
	return &smtp.SMTPError{Code: status, EnhancedCode: enh, Message: msg}
}
