package relay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"

	"mailgate/config"
	"mailgate/filters"
)

// Why one go-smtp Server per connection: go-smtp's DATA reader silently
// drops a "." and a CR at the start of a line when no LF follows
// ("\r\n.\rMAIL FROM:..." reaches the session as "\r\nMAIL FROM:..."), so
// two SMTP smuggling sequences cannot be seen in the message. The only
// place go-smtp shows the bytes it reads, in the clear even after
// STARTTLS, is its Server.Debug writer; giving every connection its own
// Server makes that writer belong to one connection: the smuggleTap.

// acceptLoop serves each connection of ln with its own go-smtp Server.
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

// serveConn runs one connection to its end.
func (s *Server) serveConn(l config.Listener, c net.Conn) {
	be := &backend{srv: s, listener: l, front: frontOf(c)}
	srv := s.smtpServer(l, be)
	srv.Debug = &smuggleTap{}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		c.Close()
		return
	}
	s.conns[srv] = connEntry{conn: c, be: be}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, srv)
		s.mu.Unlock()
	}()
	if !s.admit(l, c) {
		return
	}
	srv.Serve(newOneConnListener(c)) // returns once c is closed
}

// admit runs the chain's connection stage (connection rate limits) before
// go-smtp greets. A refused client gets the refusal as its greeting, as
// RFC 5321 section 3.1 allows (421 instead of 220), and the connection is
// closed; on implicit TLS the reply goes after the handshake, where the
// client expects its greeting.
func (s *Server) admit(l config.Listener, c net.Conn) bool {
	id := newSessionID()
	conn := &filters.Conn{SessionID: id, Listener: l.Name, IP: ipOf(c.RemoteAddr()),
		Submission: l.Protocol == config.ProtoSubmission || l.Protocol == config.ProtoSubmissions}
	err := s.chain(l.Name).Connect(context.Background(), conn)
	if err == nil {
		return true
	}
	log := s.log.With("session", id, "listener", l.Name, "client", conn.IP.String())
	r := toReply(err, id, log)
	s.metrics.reject(l.Name, "connect", r.Code)
	log.Info("rejected", "stage", "connect", "code", r.Code, "reply", r.Message)
	c.SetDeadline(time.Now().Add(greetRefusal))
	fmt.Fprintf(c, "%d %d.%d.%d %s\r\n", r.Code, r.EnhancedCode[0], r.EnhancedCode[1], r.EnhancedCode[2], r.Message)
	c.Close() // the front flushes the line first
	return false
}

// greetRefusal bounds the TLS handshake and the write of a refused
// connection's one reply.
const greetRefusal = 10 * time.Second

func ipOf(a net.Addr) net.IP {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP
	}
	return net.ParseIP(hostOf(a))
}

// oneConnListener hands go-smtp a single connection, then blocks until
// that connection or the listener is closed, so that Serve returns.
type oneConnListener struct {
	conn     net.Conn
	connDone <-chan struct{}
	once     sync.Once
	closed   chan struct{}
	given    atomic.Bool
}

func newOneConnListener(c net.Conn) *oneConnListener {
	l := &oneConnListener{conn: c, closed: make(chan struct{})}
	if lc, ok := underTLS(c).(*limitedConn); ok {
		l.connDone = lc.closed
	}
	return l
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	if !l.given.Swap(true) {
		return l.conn, nil
	}
	select {
	case <-l.connDone: // nil (never ready) if the conn is not ours
	case <-l.closed:
	}
	return nil, net.ErrClosed
}

func (l *oneConnListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *oneConnListener) Addr() net.Addr { return l.conn.LocalAddr() }

// smuggleTap watches the bytes go-smtp reads from one connection (and the
// replies it writes, which never contain the pattern) for "\n.\r" not
// followed by "\n". Once seen, every later message on the connection is
// refused: go-smtp's bufio may read ahead, so the tap cannot say which
// message the bytes belong to, only that this client sends them.
type smuggleTap struct {
	state int // 1: after "\n", 2: after "\n.", 3: after "\n.\r"
	seen  atomic.Bool
}

// Write is called by go-smtp from the connection's goroutine only.
func (t *smuggleTap) Write(p []byte) (int, error) {
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
	return len(p), nil
}

func (t *smuggleTap) step(b byte) {
	if t.state == 3 && b != '\n' {
		t.seen.Store(true)
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

// smuggled reports whether the connection of c ever sent "\n.\r" without
// "\n" after it.
func smuggled(c *smtp.Conn) bool {
	t, ok := c.Server().Debug.(*smuggleTap)
	return ok && t.seen.Load()
}
