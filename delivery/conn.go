package delivery

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"time"

	"github.com/emersion/go-smtp"

	"mailgate/dane"
	"mailgate/internal/mailmsg"
)

// Timeouts are the SMTP client limits of RFC 5321 §4.5.3.2 (plus the TCP
// connect). Zero fields take the RFC's values.
type Timeouts struct {
	Connect   time.Duration // 30s
	Greeting  time.Duration // 5m, also EHLO and STARTTLS
	Mail      time.Duration // 5m
	Rcpt      time.Duration // 5m
	DataInit  time.Duration // 2m, the 354 reply
	DataBlock time.Duration // 3m, each block of the message
	DataEnd   time.Duration // 10m, the reply to the final dot
}

func (t Timeouts) withDefaults() Timeouts {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&t.Connect, 30*time.Second)
	def(&t.Greeting, 5*time.Minute)
	def(&t.Mail, 5*time.Minute)
	def(&t.Rcpt, 5*time.Minute)
	def(&t.DataInit, 2*time.Minute)
	def(&t.DataBlock, 3*time.Minute)
	def(&t.DataEnd, 10*time.Minute)
	return t
}

// Dialer opens TCP connections; *net.Dialer is one. Tests swap it.
type Dialer interface {
	DialContext(ctx context.Context, network, address string) (net.Conn, error)
}

// tlsMode is how a connection uses TLS.
type tlsMode int

const (
	tlsOpportunistic tlsMode = iota // STARTTLS when offered, any certificate
	tlsVerified                     // STARTTLS required, certificate valid for the host name
	tlsImplicit                     // TLS from the first byte, verified
	tlsNone                         // plain text only
	tlsDANE                         // STARTTLS required, certificate matching the host's TLSA records
	tlsEncrypt                      // STARTTLS required, any certificate (DANE without usable records)
)

// required tells whether the mode refuses to go on in plain text.
func (m tlsMode) required() bool {
	return m == tlsVerified || m == tlsImplicit || m == tlsDANE || m == tlsEncrypt
}

// Why a required TLS could not be had, for TLS-RPT's result types.
var (
	errNoSTARTTLS   = errors.New("STARTTLS not offered")
	errDANEMismatch = errors.New("DANE: certificate does not match TLSA")
)

// TLS labels for metrics and logs.
const (
	tlsLabelNone       = "none"
	tlsLabelUnverified = "unverified"
	tlsLabelVerified   = "verified"
	tlsLabelDANE       = "dane"
)

// target is one host to connect to.
type target struct {
	addr  string  // ip:port
	mta   string  // host name: TLS server name, Remote-MTA
	mode  tlsMode // what TLS to insist on
	tlsa  []dane.TLSA
	names []string // DANE reference identifiers, when not just mta
}

func (t target) key() string { return t.addr + "|" + t.mta }

// session is an open SMTP connection that has said EHLO (and STARTTLS,
// AUTH where due) and is ready for MAIL.
type session struct {
	c   *smtp.Client
	raw net.Conn // the TCP connection, for deadlines and closing
	// stream is the connection the client speaks over (TLS or plain),
	// used directly for pipelined commands.
	stream net.Conn
	t      target
	tls    string // tlsLabel*
	// verifyErr is why the certificate did not verify on an
	// opportunistic connection, for a testing-mode TLS report.
	verifyErr error
}

func (s *session) satisfies(mode tlsMode) bool {
	switch mode {
	case tlsVerified, tlsImplicit:
		return s.tls == tlsLabelVerified
	case tlsDANE:
		return s.tls == tlsLabelDANE
	case tlsEncrypt:
		return s.tls != tlsLabelNone
	}
	return true
}

// close says QUIT briefly, then drops the connection.
func (s *session) close() {
	s.c.CommandTimeout = 5 * time.Second
	if err := s.c.Quit(); err != nil {
		s.c.Close()
	}
}

// errTLSFallback asks for a new plain-text connection: opportunistic
// STARTTLS failed its handshake, which leaves the first one unusable.
var errTLSFallback = errors.New("STARTTLS handshake failed")

// dialer opens sessions; it is shared by Remote and Smarthost.
type dialer struct {
	hostname string
	timeouts Timeouts
	net      Dialer
	rootCAs  *x509.CertPool
}

// open connects, reads the greeting, says EHLO and does TLS as t.mode
// asks. Errors are *Error, or errTLSFallback.
func (d *dialer) open(ctx context.Context, t target) (*session, error) {
	dctx, cancel := context.WithTimeout(ctx, d.timeouts.Connect)
	raw, err := d.net.DialContext(dctx, "tcp", t.addr)
	cancel()
	if err != nil {
		return nil, tempErr(mailmsg.CmdConnect, t.mta, "4.4.1", "cannot connect to "+t.addr+": "+err.Error(), err)
	}
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	defer stop()
	s, err := d.handshake(ctx, raw, t)
	if err != nil {
		raw.Close()
		return nil, err
	}
	return s, nil
}

func (d *dialer) handshake(ctx context.Context, raw net.Conn, t target) (*session, error) {
	s := &session{raw: raw, t: t, tls: tlsLabelNone}
	var conn net.Conn = raw
	if t.mode == tlsImplicit {
		tc := tls.Client(raw, d.tlsConfig(t, s))
		raw.SetDeadline(time.Now().Add(d.timeouts.Greeting))
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, tempErr(mailmsg.CmdTLS, t.mta, "4.7.5", "TLS handshake failed: "+err.Error(), err)
		}
		raw.SetDeadline(time.Time{})
		conn, s.tls = tc, tlsLabelVerified
	}
	s.c, s.stream = smtp.NewClient(conn), conn
	s.c.CommandTimeout = d.timeouts.Greeting
	if err := s.c.Hello(d.hostname); err != nil {
		e := remoteErr(mailmsg.CmdConnect, t.mta, err)
		e.Permanent = false // another MX, or a later try, may answer
		return nil, e
	}
	if t.mode == tlsImplicit || t.mode == tlsNone {
		return s, nil
	}
	if ok, _ := s.c.Extension("STARTTLS"); !ok {
		if t.mode.required() {
			return nil, tempErr(mailmsg.CmdTLS, t.mta, "4.7.10", "TLS is required for this destination but "+t.mta+" does not offer STARTTLS", errNoSTARTTLS)
		}
		return s, nil
	}
	return d.startTLS(ctx, s)
}

// startTLS upgrades s. go-smtp's client has no public STARTTLS that keeps
// our EHLO name, so the command is sent here, the handshake done on the
// raw connection, and a new client started on the TLS connection.
// Whatever the server sent before the handshake is discarded (no command
// injection across STARTTLS).
func (d *dialer) startTLS(ctx context.Context, s *session) (*session, error) {
	t := s.t
	s.raw.SetDeadline(time.Now().Add(d.timeouts.Greeting))
	defer s.raw.SetDeadline(time.Time{})
	if _, err := fmt.Fprintf(s.raw, "STARTTLS\r\n"); err != nil {
		return nil, tempErr(mailmsg.CmdTLS, t.mta, "4.4.2", "connection lost at STARTTLS: "+err.Error(), err)
	}
	code, msg, err := textproto.NewReader(bufio.NewReaderSize(s.raw, 512)).ReadResponse(220)
	if err != nil {
		if t.mode.required() || code == 0 {
			return nil, tempErr(mailmsg.CmdTLS, t.mta, "4.7.10", fmt.Sprintf("STARTTLS refused: %d %s", code, msg), errors.Join(errNoSTARTTLS, err))
		}
		return s, nil // a refusal leaves the plain session usable
	}
	tc := tls.Client(s.raw, d.tlsConfig(t, s))
	if err := tc.HandshakeContext(ctx); err != nil {
		if t.mode.required() {
			return nil, tempErr(mailmsg.CmdTLS, t.mta, "4.7.5", "TLS handshake failed: "+err.Error(), err)
		}
		return nil, errTLSFallback
	}
	c := smtp.NewClient(&replayConn{Conn: tc, pending: []byte("220 TLS ready\r\n")})
	c.CommandTimeout = d.timeouts.Greeting
	if err := c.Hello(d.hostname); err != nil {
		e := remoteErr(mailmsg.CmdTLS, t.mta, err)
		e.Permanent = false
		return nil, e
	}
	s.c, s.stream = c, tc
	return s, nil
}

// tlsConfig checks the certificate itself so that an opportunistic
// connection still learns whether it was verified (for metrics, TLS
// reports and reuse by a domain that requires TLS); only a mode that
// requires TLS fails on it. The session's tls label is set here.
func (d *dialer) tlsConfig(t target, s *session) *tls.Config {
	return &tls.Config{
		ServerName:         t.mta,
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			label, err := d.verifyPeer(cs, t)
			if t.mode == tlsDANE && err != nil {
				err = fmt.Errorf("%w: %v", errDANEMismatch, err)
			}
			s.tls, s.verifyErr = label, err
			if err != nil && (t.mode == tlsEncrypt || t.mode == tlsOpportunistic) {
				s.tls = tlsLabelUnverified
				return nil
			}
			return err
		},
	}
}

// replayConn hands the new client a greeting, since go-smtp's client
// reads one before its first command and none comes after STARTTLS.
type replayConn struct {
	net.Conn
	pending []byte
}

func (r *replayConn) Read(p []byte) (int, error) {
	if len(r.pending) > 0 {
		n := copy(p, r.pending)
		r.pending = r.pending[n:]
		return n, nil
	}
	return r.Conn.Read(p)
}
