// Package smtptest runs a real SMTP server on loopback for tests, one that
// can be told to misbehave: reply 4xx or 5xx per recipient, hang at any
// stage, drop the connection after the final dot, offer STARTTLS with a
// self-signed certificate, or demand AUTH. It records every message's DATA
// bytes exactly as they arrived, so tests can check what a client really
// sent, byte for byte.
package smtptest

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// Stages at which Config.Hang makes the server stop answering.
const (
	HangGreeting = "greeting" // accept the connection, never greet
	HangEHLO     = "ehlo"
	HangMail     = "mail"
	HangRcpt     = "rcpt"
	HangData     = "data" // no reply to DATA
	HangDot      = "dot"  // read the whole message, never reply
)

// Config says how the server behaves. Zero values give a polite server
// that accepts everything.
type Config struct {
	// Hostname is used in the greeting and in the certificate's names
	// (default "mx.test").
	Hostname string
	// Greeting replaces the whole 220 line, e.g. "421 4.3.2 busy".
	Greeting string
	// Extensions replace the EHLO keywords (default: PIPELINING,
	// 8BITMIME, SMTPUTF8, ENHANCEDSTATUSCODES, SIZE 52428800). STARTTLS and
	// AUTH are added by STARTTLS and AuthUser.
	Extensions []string
	// STARTTLS offers STARTTLS with the server's self-signed certificate.
	STARTTLS bool
	// Certificate, when set, replaces the self-signed certificate (a
	// chain from a test CA, for MTA-STS and DANE tests).
	Certificate *tls.Certificate
	// BrokenTLS answers STARTTLS with 220 and then plain text instead of
	// a TLS handshake, so the client's handshake fails.
	BrokenTLS bool
	// ImplicitTLS speaks TLS from the first byte (port 465 style).
	ImplicitTLS bool
	// AuthUser and AuthPass, when set, make AUTH PLAIN/LOGIN required
	// before MAIL (and offered only after TLS when TLS is configured).
	AuthUser, AuthPass string
	// MailReply answers MAIL FROM (default "250 2.1.0 OK").
	MailReply string
	// RcptReplies maps a lower-case address to the replies given to its
	// successive RCPT commands, across connections; the last one repeats.
	// Unlisted addresses get "250 2.1.5 OK".
	RcptReplies map[string][]string
	// DataReplies are the replies to successive final dots; the last one
	// repeats (default "250 2.0.0 OK queued").
	DataReplies []string
	// DataCommandReplies are the replies to successive DATA commands that
	// have a recipient; the last one repeats (default 354). Anything but
	// a 354 refuses the content.
	DataCommandReplies []string
	// DataWithoutRcpt answers DATA with 354 even when no recipient was
	// accepted, as RFC 2920 section 3.1 allows a server to.
	DataWithoutRcpt bool
	// Hang makes the server stop answering at a stage (Hang* constants).
	Hang string
	// CloseAfterMessage closes the connection right after the reply to
	// the final dot, without waiting for QUIT (an idle-timeout server).
	CloseAfterMessage bool
	// DropAfterDot closes the connection after the final dot, unanswered.
	DropAfterDot bool
}

// Message is one mail transaction the server accepted.
type Message struct {
	Helo       string
	TLS        bool
	AuthUser   string
	From       string // reverse path without brackets
	MailParams string // everything after FROM:<...>
	Rcpts      []string
	RcptParams []string
	// Raw is every byte received after the 354 reply, up to and including
	// the final ".\r\n", exactly as sent (still dot-stuffed).
	Raw []byte
	// Pipelined is set when more commands had arrived before the reply
	// to MAIL was sent (RFC 2920 PIPELINING).
	Pipelined bool
	// ConnID numbers the connection the message came on (1, 2, ...).
	ConnID int
}

// Server is a running test SMTP server.
type Server struct {
	Addr string // host:port

	ln      net.Listener
	tlsConf *tls.Config
	pool    *x509.CertPool
	done    chan struct{}
	wg      sync.WaitGroup

	mu       sync.Mutex
	cfg      Config
	msgs     []Message
	conns    int
	commands []string
	rcptSeen map[string]int
	dots     int
	datas    int
	changed  chan struct{}
	open     map[net.Conn]bool
}

// Start listens on 127.0.0.1 and serves until the test ends.
func Start(t testing.TB, cfg Config) *Server {
	return StartOn(t, "127.0.0.1:0", cfg)
}

// StartOn listens on addr, which must be a loopback address such as
// "[::1]:0" or "127.0.0.1:0".
func StartOn(t testing.TB, addr string, cfg Config) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("smtptest: listen %s: %v", addr, err)
	}
	return Serve(t, ln, cfg)
}

// Serve serves on a listener the test made (for example to share a port
// number between 127.0.0.1 and ::1).
func Serve(t testing.TB, ln net.Listener, cfg Config) *Server {
	t.Helper()
	if cfg.Hostname == "" {
		cfg.Hostname = "mx.test"
	}
	cert, pool, err := selfSigned(cfg.Hostname)
	if err != nil {
		t.Fatalf("smtptest: certificate: %v", err)
	}
	if cfg.Certificate != nil {
		cert = *cfg.Certificate
	}
	s := &Server{
		Addr: ln.Addr().String(), ln: ln, cfg: cfg, pool: pool,
		tlsConf:  &tls.Config{Certificates: []tls.Certificate{cert}},
		done:     make(chan struct{}),
		rcptSeen: map[string]int{},
		changed:  make(chan struct{}),
		open:     map[net.Conn]bool{},
	}
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(s.Close)
	return s
}

// Certificate is the certificate the server presents.
func (s *Server) Certificate() tls.Certificate { return s.tlsConf.Certificates[0] }

// Close stops the server and every connection, including hanging ones.
func (s *Server) Close() {
	select {
	case <-s.done:
		return
	default:
	}
	s.mu.Lock()
	close(s.done)
	s.mu.Unlock()
	s.ln.Close()
	s.mu.Lock()
	for c := range s.open {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// Port is the TCP port the server listens on.
func (s *Server) Port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// CertPool trusts the server's self-signed certificate, for clients that
// verify it.
func (s *Server) CertPool() *x509.CertPool { return s.pool }

// CertPEM is the server's certificate in PEM, for a client's CA file.
func (s *Server) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.tlsConf.Certificates[0].Certificate[0]})
}

// Update changes the behaviour for commands that come after it.
func (s *Server) Update(f func(*Config)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(&s.cfg)
}

// Messages returns a copy of every message received so far.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// Connections counts the connections accepted so far.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

// Commands returns every command line received, in order, with AUTH
// credentials replaced by "AUTH ...".
func (s *Server) Commands() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.commands...)
}

// WaitMessages blocks until n messages have arrived and returns them; the
// test fails if that takes longer than timeout.
func (s *Server) WaitMessages(t testing.TB, n int, timeout time.Duration) []Message {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		if len(s.msgs) >= n {
			m := append([]Message(nil), s.msgs...)
			s.mu.Unlock()
			return m
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("smtptest: %d of %d messages after %v", len(s.Messages()), n, timeout)
			return nil
		}
	}
}

// notify wakes waiters; call with s.mu held.
func (s *Server) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		select {
		case <-s.done:
			s.mu.Unlock()
			c.Close()
			return
		default:
		}
		s.conns++
		id := s.conns
		s.open[c] = true
		implicit := s.cfg.ImplicitTLS
		s.notify()
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() {
				s.mu.Lock()
				delete(s.open, c)
				s.mu.Unlock()
				c.Close()
			}()
			sess := &session{s: s, id: id}
			if implicit {
				tc := tls.Server(c, s.tlsConf)
				sess.tls = true
				s.track(c, tc)
				c = tc
			}
			sess.serve(c)
		}()
	}
}

// track swaps a tracked connection for its TLS wrapper.
func (s *Server) track(old, cur net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.open, old)
	s.open[cur] = true
}

// config returns a snapshot of the behaviour.
func (s *Server) config() Config {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfg
}

// nextRcptReply picks the reply for one more RCPT to addr.
func (s *Server) nextRcptReply(addr string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := strings.ToLower(addr)
	n := s.rcptSeen[key]
	s.rcptSeen[key] = n + 1
	return pick(s.cfg.RcptReplies[key], n, "250 2.1.5 OK")
}

// nextDataCommandReply picks the reply for one more DATA command.
func (s *Server) nextDataCommandReply() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.datas
	s.datas++
	return pick(s.cfg.DataCommandReplies, n, "354 Go ahead, end with <CRLF>.<CRLF>")
}

// nextDataReply picks the reply for one more final dot.
func (s *Server) nextDataReply() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.dots
	s.dots++
	return pick(s.cfg.DataReplies, n, "250 2.0.0 OK queued")
}

func pick(replies []string, n int, def string) string {
	if len(replies) == 0 {
		return def
	}
	if n >= len(replies) {
		n = len(replies) - 1
	}
	return replies[n]
}

func (s *Server) logCommand(line string) {
	if len(line) >= 4 && strings.EqualFold(line[:4], "AUTH") {
		line = "AUTH ..."
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.commands = append(s.commands, line)
	s.notify()
}

// WaitCommand blocks until a command line starting with prefix (any case)
// has arrived; the test fails after timeout.
func (s *Server) WaitCommand(t testing.TB, prefix string, timeout time.Duration) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		for _, c := range s.commands {
			if len(c) >= len(prefix) && strings.EqualFold(c[:len(prefix)], prefix) {
				s.mu.Unlock()
				return
			}
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("smtptest: no %s command after %v; got %q", prefix, timeout, s.Commands())
			return
		}
	}
}

func (s *Server) record(m Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = append(s.msgs, m)
	s.notify()
}
