package pop3

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"strings"
	"time"
)

type state int

const (
	stateAuthorization state = iota // RFC 1939 section 3
	stateTransaction
)

// errLineTooLong is returned by readLine for a line over its limit.
var errLineTooLong = errors.New("pop3: line too long")

// session is one POP3 connection.
type session struct {
	srv    *Server
	id     string
	remote string // client host:port
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc

	conn net.Conn // the current transport: raw, or TLS over raw
	r    *bufio.Reader
	w    *bufio.Writer
	tls  bool
	// insecureOK: the listener allows logins without TLS and the client
	// is on loopback.
	insecureOK bool

	state state
	// openState is the label the session counts under in
	// mailgate_pop3_connections_open ("" once it ended).
	openState string
	loginBy   time.Time // the end of LoginTimeout
	user      string    // name given by USER, waiting for PASS
	failures  int       // failed logins so far

	account string // set once logged in and locked
	drop    Maildrop
	msgs    []Message // the listing taken at login; numbers are index+1
	deleted []bool
}

// handle runs one connection from greeting to close.
func (s *Server) handle(raw net.Conn, l Listener) {
	implicitTLS := l.ImplicitTLS
	defer s.wg.Done()
	defer raw.Close()
	open, underLimit := s.trackConn(raw)
	if !open {
		return
	}
	defer s.untrackConn(raw)
	label := "none"
	if implicitTLS {
		label = "implicit"
	}
	s.metrics.sessions.WithLabelValues(label).Inc()
	s.metrics.active.Inc()
	defer s.metrics.active.Dec()

	sess := s.newSession(raw)
	sess.insecureOK = l.InsecureAuth && isLoopback(raw.RemoteAddr())
	sess.setOpenState("unauthenticated")
	defer sess.end()
	defer func() {
		if p := recover(); p != nil {
			s.metrics.panics.Inc()
			sess.log.Error("pop3 session panic", "panic", p, "stack", string(debug.Stack()))
		}
	}()
	if implicitTLS && !sess.startTLS() {
		return
	}
	if !underLimit {
		// Debug: a flood of connections must not write a line each.
		sess.log.Debug("pop3 connection refused: too many from this address")
		sess.reply("-ERR [SYS/TEMP] too many connections from your address; close some and try again")
		sess.flush()
		return
	}
	sess.run()
}

func (s *Server) newSession(raw net.Conn) *session {
	ctx, cancel := context.WithCancel(s.ctx)
	id := rand.Text()[:12]
	sess := &session{
		srv:    s,
		id:     id,
		remote: raw.RemoteAddr().String(),
		log:    s.log.With("session", id, "remote", raw.RemoteAddr().String()),
		ctx:    ctx,
		cancel: cancel,
	}
	sess.setConn(raw, false)
	sess.loginBy = time.Now().Add(s.opts.LoginTimeout)
	// Debug, as SMTP's session start: a client reconnecting in a loop
	// (a locked-out guesser) must not write a line per connection.
	sess.log.Debug("pop3 connection")
	return sess
}

// setConn switches the session to a new transport (after a TLS handshake).
func (s *session) setConn(c net.Conn, isTLS bool) {
	s.conn = c
	s.tls = isTLS
	s.r = bufio.NewReaderSize(c, 4096)
	s.w = bufio.NewWriterSize(deadlineWriter{c, s.srv.opts.IdleTimeout}, 32<<10)
}

// startTLS runs the server side of a TLS handshake on the current
// transport and resets the session to a fresh AUTHORIZATION state.
func (s *session) startTLS() bool {
	tc := tls.Server(s.conn, s.srv.opts.TLS)
	tc.SetDeadline(time.Now().Add(tlsHandshakeTimeout))
	if err := tc.HandshakeContext(s.ctx); err != nil {
		s.log.Info("pop3 TLS handshake failed", "err", err)
		return false
	}
	tc.SetDeadline(time.Time{})
	s.setConn(tc, true)
	s.user = ""
	return true
}

// end releases what the session holds. It never applies deletions.
func (s *session) end() {
	s.setOpenState("")
	if s.account != "" {
		s.srv.unlock(s.account)
	}
	s.cancel()
	s.log.Debug("pop3 disconnect")
}

// run greets the client and answers commands until QUIT, an error, or the
// idle timeout.
func (s *session) run() {
	s.reply("+OK %s POP3 server ready", s.srv.opts.Hostname)
	for {
		line, err := s.readLine(maxCommandLine)
		if err != nil {
			s.readFailed(err, "commands are limited to 255 octets")
			return
		}
		if s.dispatch(line) {
			s.flush()
			return
		}
	}
}

// readFailed answers, when it still can, the reason a read ended the session.
func (s *session) readFailed(err error, limit string) {
	switch {
	case errors.Is(err, errLineTooLong):
		s.reply("-ERR line too long (%s); closing connection", limit)
	case errors.Is(err, os.ErrDeadlineExceeded) && s.state == stateAuthorization && !time.Now().Before(s.loginBy):
		s.reply("-ERR [SYS/TEMP] no login within %s; closing connection", s.srv.opts.LoginTimeout)
		s.flush()
		s.log.Debug("pop3 session ended: no login in time") // Debug: no line per guesser
		return
	case errors.Is(err, os.ErrDeadlineExceeded):
		s.reply("-ERR idle for too long; closing connection")
	default:
		return // the client went away or Close ended the session
	}
	s.flush()
	s.log.Info("pop3 session ended", "reason", err)
}

// readLine returns the next line without its line end. Before blocking it
// sends the replies queued so far, so pipelined commands get one write.
func (s *session) readLine(limit int) (string, error) {
	if s.r.Buffered() == 0 {
		if err := s.flush(); err != nil {
			return "", err
		}
	}
	deadline := time.Now().Add(s.srv.opts.IdleTimeout)
	if s.state == stateAuthorization && s.loginBy.Before(deadline) {
		deadline = s.loginBy
	}
	s.conn.SetReadDeadline(deadline)
	line, err := s.r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) || len(line) > limit {
		return "", errLineTooLong
	}
	if err != nil {
		if err == io.EOF && len(line) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return "", err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return string(line), nil
}

// reply queues one response line; CR and LF in it are impossible by
// construction (formats are constants, arguments are numbers or checked).
func (s *session) reply(format string, args ...any) {
	fmt.Fprintf(s.w, format, args...)
	s.w.WriteString("\r\n")
}

func (s *session) flush() error {
	return s.w.Flush()
}

// dispatch runs one command line and reports whether the session ends.
func (s *session) dispatch(line string) bool {
	name, arg, _ := strings.Cut(line, " ")
	name = strings.ToUpper(name)
	s.srv.metrics.command(name)
	if s.expired() {
		return true
	}
	table := authorizationCommands
	if s.state == stateTransaction {
		table = transactionCommands
	}
	if h, ok := table[name]; ok {
		return h(s, arg)
	}
	switch {
	case !commandNames[name]:
		s.reply("-ERR unknown command; CAPA lists the commands this server knows")
	case s.state == stateAuthorization:
		s.reply("-ERR log in first with USER and PASS, or AUTH PLAIN")
	default:
		s.reply("-ERR already logged in; %s is only valid before login", name)
	}
	return false
}

type handler func(s *session, arg string) (end bool)

var authorizationCommands = map[string]handler{
	"CAPA": (*session).cmdCAPA,
	"USER": (*session).cmdUSER,
	"PASS": (*session).cmdPASS,
	"AUTH": (*session).cmdAUTH,
	"STLS": (*session).cmdSTLS,
	"QUIT": (*session).cmdQUIT,
}

var transactionCommands = map[string]handler{
	"CAPA": (*session).cmdCAPA,
	"STAT": (*session).cmdSTAT,
	"LIST": (*session).cmdLIST,
	"UIDL": (*session).cmdUIDL,
	"RETR": (*session).cmdRETR,
	"TOP":  (*session).cmdTOP,
	"DELE": (*session).cmdDELE,
	"NOOP": (*session).cmdNOOP,
	"RSET": (*session).cmdRSET,
	"QUIT": (*session).cmdQUIT,
}

// internalError logs err and sends a generic reply naming the session, so
// an operator can find the log line (s.log names the account once logged
// in: saying it again would repeat the key).
func (s *session) internalError(what string, err error) {
	s.log.Error("pop3 "+what, "err", err)
	s.reply("-ERR [SYS/TEMP] internal error; try again later (session %s)", s.id)
}

// deadlineWriter gives every write to the client the idle timeout, so a
// client that stops reading cannot hold a session forever.
type deadlineWriter struct {
	c net.Conn
	d time.Duration
}

func (w deadlineWriter) Write(p []byte) (int, error) {
	w.c.SetWriteDeadline(time.Now().Add(w.d))
	return w.c.Write(p)
}

// isLoopback reports whether addr is a loopback client (127.0.0.0/8, ::1).
func isLoopback(addr net.Addr) bool {
	a, ok := addr.(*net.TCPAddr)
	return ok && a.IP.IsLoopback()
}

// setOpenState moves the session to another state of the open
// connections gauge ("" to leave it).
func (s *session) setOpenState(state string) {
	if s.openState != "" {
		s.srv.metrics.open.WithLabelValues(s.openState).Dec()
	}
	if state != "" {
		s.srv.metrics.open.WithLabelValues(state).Inc()
	}
	s.openState = state
}
