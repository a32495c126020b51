package relay

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	"mailgate/config"
)

// acceptLoop serves each connection of ln on its own goroutine.
func (s *Server) acceptLoop(l config.Listener, ln net.Listener) error {
	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if s.isClosing() {
				return nil
			}
			if isTemporary(err) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log.Warn("accept failed; retrying", "listener", l.Name, "err", err, "in", backoff)
				time.Sleep(backoff) // out of file descriptors: let some close
				continue
			}
			return err
		}
		backoff = 0
		go s.serveConn(l, c)
	}
}

// isTemporary reports the accept errors worth retrying (EMFILE, ENFILE,
// ECONNABORTED...), as net/http and go-smtp do.
func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// serveConn runs one connection to its end: admission, then the SMTP
// protocol layer (smtpd.go). Implicit TLS wraps the connection first, so
// that a refusal at admission is said inside TLS.
func (s *Server) serveConn(l config.Listener, c net.Conn) {
	if l.Protocol == config.ProtoSubmissions {
		c = tls.Server(c, s.opts.TLS)
	}
	be := &backend{srv: s, listener: l}
	sc := newSMTPConn(s, be, c)
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		c.Close()
		return
	}
	s.conns[sc] = struct{}{}
	s.serving.Add(1)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, sc)
		s.mu.Unlock()
		s.serving.Done()
	}()
	s.metrics.connections.WithLabelValues(l.Name).Inc()
	ended, ok := s.admit(l, c)
	if !ok {
		return
	}
	be.ended = ended
	sc.serve()
}

// admit runs the chain's connection checks (the connection rate) before
// the greeting. A refused client is greeted with the refusal (RFC 5321
// section 3.1: 421 instead of 220) and the connection is closed.
func (s *Server) admit(l config.Listener, c net.Conn) (ended func(loggedIn bool), ok bool) {
	var ip net.IP
	if ta, isTCP := c.RemoteAddr().(*net.TCPAddr); isTCP {
		ip = ta.IP
	}
	login := l.Protocol == config.ProtoSubmission || l.Protocol == config.ProtoSubmissions
	ended, err := s.chain(l.Name).Admit(ip, login)
	if err == nil {
		return ended, true
	}
	r := toReply(err, "", s.log)
	s.metrics.reject(l.Name, "connect", r.Code)
	s.log.Info("rejected", "listener", l.Name, "client", ip.String(), "stage", "connect", "code", r.Code, "reply", r.Message)
	c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "%d %d.%d.%d %s\r\n", r.Code, r.EnhancedCode[0], r.EnhancedCode[1], r.EnhancedCode[2], r.Message)
	c.Close()
	return nil, false
}

// smuggleTap watches the raw bytes of one message's content for "\n.\r"
// not followed by "\n": smtpdata.Reader drops a "." and a CR at the start
// of a line when no LF follows, as go-smtp did ("\r\n.\rMAIL FROM:..."
// reaches the session as "\r\nMAIL FROM:..."), so two SMTP smuggling
// sequences cannot be seen in the content itself. It starts after the LF
// that ended the DATA command.
type smuggleTap struct {
	state int // 1: after "\n", 2: after "\n.", 3: after "\n.\r"
	seen  bool
}

func (t *smuggleTap) Write(p []byte) {
	for i := 0; i < len(p); i++ {
		if t.state == 0 {
			j := bytes.IndexByte(p[i:], '\n')
			if j < 0 {
				break
			}
			i += j
		}
		t.step(p[i])
	}
}

func (t *smuggleTap) step(b byte) {
	if t.state == 3 && b != '\n' {
		t.seen = true
	}
	switch {
	case b == '\n':
		t.state = 1
	case b == '.' && t.state == 1:
		t.state = 2
	case b == '\r' && t.state == 2:
		t.state = 3
	default:
		t.state = 0
	}
}
