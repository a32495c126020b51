// Package filters decides what mailgate accepts and makes what it sends
// trustworthy: an ordered Chain of filters per listener sees each SMTP stage
// (connection, MAIL, RCPT, DATA) of a transaction; the relay hands accepted
// messages, with the headers the chain added, on to the queue.
package filters

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"mailgate/resolver"
)

// Conn describes the client connection as the relay knows it.
type Conn struct {
	SessionID  string
	Listener   string // listener name from the config
	Submission bool   // submission or submissions listener
	IP         net.IP
	Helo       string
	TLS        *tls.ConnectionState // nil without TLS
	// Account is the authenticated account ("" before or without AUTH).
	Account string
}

// Message is one transaction's message at the DATA stage. Filters may add
// header fields (Prepend) or, for a milter, replace Raw; they set
// Quarantine to have the mailbox layer file it under Junk.
type Message struct {
	From       string   // MAIL FROM address, "" for <>
	Recipients []string // accepted RCPT TO addresses
	Raw        []byte   // the message as received, CRLF line endings
	Prepend    []byte   // header fields to put on top, each ending in CRLF
	Quarantine bool
	// Discard asks the relay to answer 250 but drop the message (a milter
	// said so).
	Discard bool
}

// Deps are what filters need from the rest of the program.
type Deps struct {
	Logger *slog.Logger
	// SendAs reports whether account may use addr as a sender address
	// (its own address, an alias or a send-as entry).
	SendAs func(account, addr string) bool
	// Resolver answers SPF, DKIM and DMARC lookups; nil means the system
	// resolver.
	Resolver resolver.Resolver
	// Now is the clock (rate limits, DKIM t=, Date fix-up); nil: time.Now.
	Now func() time.Time
	// Percent returns a number in [0, 100) for DMARC pct sampling; nil:
	// math/rand.
	Percent func() int
	// Registerer receives the filter metrics; nil: not registered.
	Registerer prometheus.Registerer
	// Metrics, when set, is used instead of making them from Registerer.
	Metrics *Metrics
	// RateLimits is the bucket store shared by every listener's chain; nil:
	// the chain makes its own from the config.
	RateLimits *RateLimits
}

// Txn is the per-connection state of a chain; Reset starts the next
// transaction on the same connection.
type Txn struct {
	chain    *Chain
	st       *State
	sessions []Session
}

// Connect runs the connection stage, once per TCP connection and before
// the greeting, so that a refused client is greeted with the refusal
// (RFC 5321 section 3.1) rather than with 220 and a 421 at EHLO. A
// non-nil error is an *smtp.SMTPError to send as the greeting.
func (c *Chain) Connect(ctx context.Context, conn *Conn) error {
	t := &Txn{chain: c, st: newState(conn)}
	for _, f := range c.filters {
		t.sessions = append(t.sessions, f.Begin(conn))
	}
	defer t.Close()
	for i, s := range t.sessions {
		if cc, ok := s.(ConnChecker); ok {
			if err := c.apply(t.st, c.filters[i].Name(), cc.CheckConn(ctx, t.st)); err != nil {
				return err
			}
		}
	}
	return nil
}

// Begin starts the filters' state for one SMTP session (at the first
// EHLO, and again after STARTTLS). The connection stage is not run again
// here: Connect ran it when the connection was accepted, and a session
// restarted by STARTTLS is not a new connection.
func (c *Chain) Begin(ctx context.Context, conn *Conn) (*Txn, error) {
	t := &Txn{chain: c, st: newState(conn)}
	for _, f := range c.filters {
		t.sessions = append(t.sessions, f.Begin(conn))
	}
	return t, nil
}

// Mail runs the MAIL FROM stage; from is "" for the null reverse-path.
// It starts a new transaction, even if Reset was not called.
func (t *Txn) Mail(ctx context.Context, from string) error {
	t.Reset()
	t.st.From = from
	for i, s := range t.sessions {
		if mc, ok := s.(MailChecker); ok {
			if err := t.chain.apply(t.st, t.chain.filters[i].Name(), mc.CheckMail(ctx, t.st)); err != nil {
				return err
			}
		}
	}
	return nil
}

// Rcpt runs the RCPT TO stage for one recipient.
func (t *Txn) Rcpt(ctx context.Context, to string) error {
	for i, s := range t.sessions {
		if rc, ok := s.(RcptChecker); ok {
			if err := t.chain.apply(t.st, t.chain.filters[i].Name(), rc.CheckRcpt(ctx, t.st, to)); err != nil {
				return err
			}
		}
	}
	t.st.Rcpts = append(t.st.Rcpts, to)
	return nil
}

// Data runs the DATA stage: checks first, then header-adding steps.
func (t *Txn) Data(ctx context.Context, msg *Message) error {
	msg.Raw = removeOurAuthResults(msg.Raw, t.chain.authservID)
	for i, s := range t.sessions {
		if dc, ok := s.(DataChecker); ok {
			if err := t.chain.apply(t.st, t.chain.filters[i].Name(), dc.CheckData(ctx, t.st, msg)); err != nil {
				return err
			}
		}
	}
	msg.Quarantine = msg.Quarantine || t.st.quarantine
	msg.Discard = msg.Discard || t.st.discard
	// Every check passed: now the steps that add header fields, in a fixed
	// order whatever the list order: trace fields, then signatures.
	msg.Prepend = append(t.traceFields(), msg.Prepend...)
	for i, s := range t.sessions {
		if d, ok := s.(Decorator); ok {
			if err := d.Decorate(ctx, t.st, msg); err != nil {
				return t.chain.internal(t.st, t.chain.filters[i].Name(), err)
			}
		}
	}
	return nil
}

// Reset ends the current transaction (RSET, or after DATA).
func (t *Txn) Reset() {
	t.st.reset()
	for _, s := range t.sessions {
		if r, ok := s.(Resetter); ok {
			r.Reset()
		}
	}
}

// Close releases the connection's state.
func (t *Txn) Close() {
	for _, s := range t.sessions {
		s.Close()
	}
	t.sessions = nil
}
