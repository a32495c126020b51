package managesieve

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strconv"
	"strings"
	"time"
)

// session is one client connection.
type session struct {
	srv      *Server
	conn     net.Conn
	r        *reader
	w        *bufio.Writer
	tls      bool
	account  string
	failures int
	ip       string
}

func (s *Server) handle(c net.Conn) {
	defer c.Close()
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("managesieve session panicked", "panic", p)
		}
	}()
	ss := &session{srv: s, conn: c, ip: remoteIP(c)}
	ss.setConn(c)
	ss.capabilities()
	ss.ok("", "mailgate ManageSieve ready.")
	for ss.flush() == nil {
		c.SetReadDeadline(time.Now().Add(s.opts.IdleTimeout))
		name, args, err := ss.r.command()
		var se *syntaxError
		switch {
		case errors.As(err, &se):
			ss.no("", se.msg)
			continue
		case errors.Is(err, errLineTooLong):
			ss.bye("", "Command line too long.")
			ss.flush()
			return
		case errors.Is(err, errLiteralTooLarge):
			ss.bye("QUOTA/MAXSIZE", "Script too large; the limit is "+itoa(ss.maxScript())+" bytes.")
			ss.flush()
			return
		case err != nil:
			return
		}
		if !ss.dispatch(name, args) {
			ss.flush()
			return
		}
	}
}

func (ss *session) setConn(c net.Conn) {
	ss.conn = c
	ss.r = &reader{br: bufio.NewReader(c), maxLiteral: ss.maxScript() + 1024}
	ss.w = bufio.NewWriter(c)
}

func (ss *session) maxScript() int { return ss.srv.opts.Scripts.Limits().MaxScriptSize }

func (ss *session) flush() error {
	ss.conn.SetWriteDeadline(time.Now().Add(ss.srv.opts.IdleTimeout))
	return ss.w.Flush()
}

func (ss *session) line(s string) { ss.w.WriteString(s + "\r\n") }

func (ss *session) reply(kind, code, text string) {
	s := kind
	if code != "" {
		s += " (" + code + ")"
	}
	if text != "" {
		s += " " + quote(text)
	}
	ss.line(s)
}

func (ss *session) ok(code, text string)  { ss.reply("OK", code, text) }
func (ss *session) no(code, text string)  { ss.reply("NO", code, text) }
func (ss *session) bye(code, text string) { ss.reply("BYE", code, text) }

// canAuth reports whether logins are offered on this connection.
// canAuth: only over TLS, or in clear text when the config allows it and
// the client is on loopback.
func (ss *session) canAuth() bool {
	return ss.tls || (ss.srv.opts.AllowInsecureAuth && net.ParseIP(ss.ip).IsLoopback())
}

// capabilities writes the capability listing (RFC 5804 section 1.7).
func (ss *session) capabilities() {
	o := ss.srv.opts
	ss.line(`"IMPLEMENTATION" "mailgate"`)
	sasl := ""
	if ss.canAuth() && ss.account == "" {
		sasl = "PLAIN"
	}
	ss.line(`"SASL" ` + quote(sasl))
	ss.line(`"SIEVE" ` + quote(strings.Join(o.Capabilities, " ")))
	if o.TLS != nil && !ss.tls {
		ss.line(`"STARTTLS"`)
	}
	if o.MaxRedirects > 0 {
		ss.line(`"MAXREDIRECTS" "` + itoa(o.MaxRedirects) + `"`)
	}
	if ss.account != "" {
		ss.line(`"OWNER" ` + quote(ss.account))
	}
	ss.line(`"VERSION" "1.0"`)
}

// dispatch runs one command; false ends the connection.
func (ss *session) dispatch(name string, args []string) bool {
	switch name {
	case "LOGOUT":
		ss.ok("", "Bye.")
		return false
	case "CAPABILITY":
		ss.capabilities()
		ss.ok("", "Done.")
		return true
	case "NOOP":
		if len(args) > 0 {
			ss.ok("TAG "+quote(args[0]), "Done.")
		} else {
			ss.ok("", "Done.")
		}
		return true
	case "STARTTLS":
		return ss.startTLS()
	case "AUTHENTICATE":
		return ss.authenticate(args)
	}
	if ss.account == "" {
		if _, known := commands[name]; known {
			ss.no("", "Log in first (AUTHENTICATE).")
		} else {
			ss.no("", "Unknown command "+clean(name)+".")
		}
		return true
	}
	cmd, ok := commands[name]
	if !ok {
		ss.srv.metrics.commands.WithLabelValues("unknown", "bad").Inc()
		ss.no("", "Unknown command "+clean(name)+".")
		return true
	}
	if len(args) != cmd.args {
		ss.no("", name+" takes "+itoa(cmd.args)+" argument(s).")
		return true
	}
	cmd.run(ss, args)
	return true
}

func (ss *session) startTLS() bool {
	if ss.srv.opts.TLS == nil || ss.tls {
		ss.no("", "STARTTLS is not available here.")
		return true
	}
	ss.ok("", "Begin TLS negotiation now.")
	if ss.flush() != nil {
		return false
	}
	tc := tls.Server(ss.conn, ss.srv.opts.TLS)
	ctx, cancel := context.WithTimeout(context.Background(), tlsHandshake)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		ss.srv.log.Info("managesieve TLS handshake failed", "ip", ss.ip, "err", clean(err.Error()))
		return false
	}
	ss.tls = true
	ss.setConn(tc)
	// RFC 5804 section 2.2: the capabilities again, now with SASL.
	ss.capabilities()
	ss.ok("", "TLS negotiation successful.")
	return true
}

func itoa(n int) string { return strconv.Itoa(n) }

// clean strips control characters from text echoed back or logged.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
}
