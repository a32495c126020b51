package smtptest

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net"
	"strings"
)

// session is one client connection.
type session struct {
	s    *Server
	id   int
	conn net.Conn
	r    *bufio.Reader
	tls  bool
	helo string
	user string
	msg  *Message
}

func (ss *session) serve(c net.Conn) {
	ss.conn = c
	ss.r = bufio.NewReader(c)
	cfg := ss.s.config()
	if cfg.Hang == HangGreeting {
		ss.hang()
		return
	}
	greeting := cfg.Greeting
	if greeting == "" {
		greeting = "220 " + cfg.Hostname + " ESMTP smtptest"
	}
	ss.reply(greeting)
	if !strings.HasPrefix(greeting, "2") {
		ss.readLine() // a polite client says QUIT
		ss.reply("221 2.0.0 Bye")
		return
	}
	for {
		line, ok := ss.readLine()
		if !ok {
			return
		}
		ss.s.logCommand(line)
		if !ss.command(line) {
			return
		}
	}
}

// command handles one command line; false ends the session.
func (ss *session) command(line string) bool {
	cfg := ss.s.config()
	verb, arg, _ := strings.Cut(line, " ")
	verb = strings.ToUpper(verb)
	if hangsAt(cfg.Hang, verb) {
		ss.hang()
		return false
	}
	switch verb {
	case "EHLO":
		ss.helo = arg
		ss.ehlo(cfg, arg)
	case "HELO":
		ss.helo = arg
		ss.reply("250 " + cfg.Hostname)
	case "STARTTLS":
		return ss.startTLS(cfg)
	case "AUTH":
		ss.auth(cfg, arg)
	case "MAIL":
		ss.mail(cfg, arg)
	case "RCPT":
		ss.rcpt(arg)
	case "DATA":
		return ss.data(cfg)
	case "RSET":
		ss.msg = nil
		ss.reply("250 2.0.0 OK")
	case "NOOP":
		ss.reply("250 2.0.0 OK")
	case "QUIT":
		ss.reply("221 2.0.0 Bye")
		return false
	default:
		ss.reply("502 5.5.2 command not implemented")
	}
	return true
}

func hangsAt(stage, verb string) bool {
	switch stage {
	case HangEHLO:
		return verb == "EHLO" || verb == "HELO"
	case HangMail:
		return verb == "MAIL"
	case HangRcpt:
		return verb == "RCPT"
	case HangData:
		return verb == "DATA"
	}
	return false
}

func (ss *session) ehlo(cfg Config, name string) {
	ext := cfg.Extensions
	if ext == nil {
		ext = []string{"PIPELINING", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES", "SIZE 52428800"}
	}
	lines := []string{cfg.Hostname + " greets " + name}
	lines = append(lines, ext...)
	if cfg.STARTTLS && !ss.tls {
		lines = append(lines, "STARTTLS")
	}
	if cfg.AuthUser != "" && (ss.tls || !(cfg.STARTTLS || cfg.ImplicitTLS)) {
		lines = append(lines, "AUTH PLAIN LOGIN")
	}
	for i, l := range lines {
		sep := "-"
		if i == len(lines)-1 {
			sep = " "
		}
		ss.reply("250" + sep + l)
	}
}

func (ss *session) startTLS(cfg Config) bool {
	if !cfg.STARTTLS || ss.tls {
		ss.reply("503 5.5.1 STARTTLS not available")
		return true
	}
	ss.reply("220 2.0.0 Ready to start TLS")
	if cfg.BrokenTLS {
		ss.reply("this is not TLS")
		return false
	}
	tc := tls.Server(ss.conn, ss.s.tlsConf)
	if err := tc.Handshake(); err != nil {
		return false
	}
	ss.s.track(ss.conn, tc)
	ss.conn, ss.r, ss.tls = tc, bufio.NewReader(tc), true
	ss.helo, ss.msg = "", nil
	return true
}

func (ss *session) auth(cfg Config, arg string) {
	mech, initial, _ := strings.Cut(arg, " ")
	var user, pass string
	switch strings.ToUpper(mech) {
	case "PLAIN":
		if initial == "" {
			ss.reply("334 ")
			initial, _ = ss.readLine()
		}
		raw, _ := base64.StdEncoding.DecodeString(initial)
		parts := strings.Split(string(raw), "\x00")
		if len(parts) == 3 {
			user, pass = parts[1], parts[2]
		}
	case "LOGIN":
		ss.reply("334 VXNlcm5hbWU6")
		l, _ := ss.readLine()
		u, _ := base64.StdEncoding.DecodeString(l)
		ss.reply("334 UGFzc3dvcmQ6")
		l, _ = ss.readLine()
		p, _ := base64.StdEncoding.DecodeString(l)
		user, pass = string(u), string(p)
	default:
		ss.reply("504 5.5.4 mechanism not supported")
		return
	}
	if cfg.AuthUser == "" || user != cfg.AuthUser || pass != cfg.AuthPass {
		ss.reply("535 5.7.8 Authentication credentials invalid")
		return
	}
	ss.user = user
	ss.reply("235 2.7.0 Authentication successful")
}

func (ss *session) mail(cfg Config, arg string) {
	if cfg.AuthUser != "" && ss.user == "" {
		ss.reply("530 5.7.0 Authentication required")
		return
	}
	path, params, ok := parsePath(arg, "FROM:")
	if !ok {
		ss.reply("501 5.5.4 syntax: MAIL FROM:<address>")
		return
	}
	reply := cfg.MailReply
	if reply == "" {
		reply = "250 2.1.0 OK"
	}
	if strings.HasPrefix(reply, "2") {
		ss.msg = &Message{Helo: ss.helo, TLS: ss.tls, AuthUser: ss.user, From: path, MailParams: params, ConnID: ss.id,
			Pipelined: ss.r.Buffered() > 0}
	}
	ss.reply(reply)
}

func (ss *session) rcpt(arg string) {
	if ss.msg == nil {
		ss.reply("503 5.5.1 MAIL first")
		return
	}
	path, params, ok := parsePath(arg, "TO:")
	if !ok {
		ss.reply("501 5.5.4 syntax: RCPT TO:<address>")
		return
	}
	reply := ss.s.nextRcptReply(path)
	if strings.HasPrefix(reply, "2") {
		ss.msg.Rcpts = append(ss.msg.Rcpts, path)
		ss.msg.RcptParams = append(ss.msg.RcptParams, params)
	}
	ss.reply(reply)
}

// data reads the message up to <CRLF>.<CRLF> and nothing else: bare LF or
// CR sequences stay in Raw, so tests see exactly what the client sent.
func (ss *session) data(cfg Config) bool {
	noRcpt := ss.msg == nil || len(ss.msg.Rcpts) == 0
	switch {
	case noRcpt && !cfg.DataWithoutRcpt:
		ss.reply("503 5.5.1 no valid recipients")
		return true
	case noRcpt:
		ss.reply("354 Go ahead, end with <CRLF>.<CRLF>")
	default:
		r := ss.s.nextDataCommandReply()
		ss.reply(r)
		if !strings.HasPrefix(r, "354") {
			return true
		}
	}
	var raw []byte
	for {
		b, err := ss.r.ReadByte()
		if err != nil {
			return false
		}
		raw = append(raw, b)
		if bytes.Equal(raw, []byte(".\r\n")) || bytes.HasSuffix(raw, []byte("\r\n.\r\n")) {
			break
		}
	}
	if noRcpt {
		ss.reply("554 5.5.1 no valid recipients, message discarded")
		return true
	}
	m := *ss.msg
	m.Raw = raw
	ss.msg = nil
	cfg = ss.s.config()
	switch {
	case cfg.Hang == HangDot:
		ss.s.record(m)
		ss.hang()
		return false
	case cfg.DropAfterDot:
		ss.s.record(m)
		return false
	}
	reply := ss.s.nextDataReply()
	if strings.HasPrefix(reply, "2") {
		ss.s.record(m)
	}
	ss.reply(reply)
	return !cfg.CloseAfterMessage
}

// parsePath splits "FROM:<a@b> PARAMS" into the address and parameters.
func parsePath(arg, prefix string) (path, params string, ok bool) {
	if len(arg) < len(prefix) || !strings.EqualFold(arg[:len(prefix)], prefix) {
		return "", "", false
	}
	rest := strings.TrimLeft(arg[len(prefix):], " ")
	if !strings.HasPrefix(rest, "<") {
		return "", "", false
	}
	end := strings.IndexByte(rest, '>')
	if end < 0 {
		return "", "", false
	}
	return rest[1:end], strings.TrimSpace(rest[end+1:]), true
}

// hang stops answering until the client goes away or the server closes.
// Server.Close closes the connection, which ends the wait.
func (ss *session) hang() {
	buf := make([]byte, 512)
	for {
		if _, err := ss.conn.Read(buf); err != nil {
			return
		}
	}
}

func (ss *session) readLine() (string, bool) {
	l, err := ss.r.ReadString('\n')
	if err != nil {
		return "", false
	}
	return strings.TrimRight(l, "\r\n"), true
}

func (ss *session) reply(line string) {
	fmt.Fprintf(ss.conn, "%s\r\n", line)
}
