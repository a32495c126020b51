// Package filters decides what mailgate accepts and makes what it sends
// trustworthy: an ordered Chain of filters per listener sees each SMTP stage
// (connection, MAIL, RCPT, DATA) of a transaction; the relay hands accepted
// messages, with the headers the chain added, on to the queue.
package filters

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"mailgate/resolver"
)

// Conn describes the client as it is now. The relay owns it and changes
// it in place (Account at AUTH, Helo at each EHLO), and every stage of
// the chain reads it through State.Conn: a filter reads it when it needs
// it and never keeps a copy, which would go stale. After STARTTLS the
// relay starts a new chain transaction with a new Conn (RFC 3207: all
// state is discarded).
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

// Message is one transaction's message at the DATA stage: Header then
// Body are the bytes as received, CRLF line endings. Filters may add
// header fields (Prepend) or, for a milter, replace Header and Body; they
// set Quarantine to have the mailbox layer file it under Junk.
type Message struct {
	From       string   // MAIL FROM address, "" for <>
	Recipients []string // accepted RCPT TO addresses
	// Header is the header section through the empty line that ends it
	// (the whole message when it has none); it is always in memory.
	Header []byte
	// Body is the rest. A large one is on disk: filters read it as a
	// stream and never keep it (relay bounds a session's memory).
	Body       Body
	Prepend    []byte // header fields to put on top, each ending in CRLF
	Quarantine bool
	// Discard asks the relay to answer 250 but drop the message (a milter
	// said so).
	Discard bool
}

// Body is a message body that may be on disk: *bytes.Reader and
// *io.SectionReader are ones.
type Body interface {
	io.ReaderAt
	Size() int64
}

// NewMessage splits raw into a Message's Header and Body.
func NewMessage(from string, rcpts []string, raw []byte) *Message {
	n := HeaderLen(raw)
	return &Message{From: from, Recipients: rcpts, Header: raw[:n:n], Body: bytes.NewReader(raw[n:])}
}

// HeaderLen is the length of raw's header section with the empty line
// after it, or len(raw) when no empty line ends it (raw has CRLF line
// endings).
func HeaderLen(raw []byte) int {
	if bytes.HasPrefix(raw, []byte("\r\n")) {
		return 2
	}
	if i := bytes.Index(raw, []byte("\r\n\r\n")); i >= 0 {
		return i + 4
	}
	return len(raw)
}

// bodyReader returns a new reader over b from its first byte.
func bodyReader(b Body) io.Reader { return io.NewSectionReader(b, 0, b.Size()) }

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
	// AccountLimit returns an account's own rate limit (accounts.yaml),
	// which replaces filters.ratelimit's; nil: none has one.
	AccountLimit func(account string) (Limit, bool)
	// RateLimits is the bucket store shared by every listener's chain; nil:
	// the chain makes its own from the config.
	RateLimits *RateLimits
	// Registry is the table of filters the config was checked with; nil:
	// Builtin().
	Registry *Registry
	// DMARCReports keeps DMARC evaluations for aggregate reports; nil:
	// none are kept.
	DMARCReports DMARCRecorder
	// Suppressed reports whether an account's mail to addr is suppressed
	// (it bounced hard before); nil: nothing is.
	Suppressed func(account, addr string) bool
}

// Txn is the per-connection state of a chain; Reset starts the next
// transaction on the same connection.
type Txn struct {
	chain    *Chain
	st       *State
	sessions []Session
}

// Admit runs each Admitter of the chain for a new TCP connection, before
// the greeting; login says whether clients may log in on the listener. A
// non-nil error is the *smtp.SMTPError to greet with instead, before
// closing. Otherwise ended must be called when the connection closes.
func (c *Chain) Admit(ip net.IP, login bool) (ended func(loggedIn bool), err error) {
	st := newState(&Conn{Listener: c.listener, IP: ip})
	var ends []func(bool)
	ended = func(loggedIn bool) {
		for _, e := range ends {
			e(loggedIn)
		}
	}
	for _, f := range c.filters {
		a, ok := f.(Admitter)
		if !ok {
			continue
		}
		v, end := a.Admit(ip, login)
		if err := c.apply(st, f.Name(), v); err != nil {
			ended(false)
			return nil, err
		}
		ends = append(ends, end)
	}
	return ended, nil
}

// Begin starts the chain's state for one SMTP session on conn, which the
// relay keeps up to date (see Conn).
func (c *Chain) Begin(ctx context.Context, conn *Conn) *Txn {
	t := &Txn{chain: c, st: newState(conn)}
	for _, f := range c.filters {
		t.sessions = append(t.sessions, f.Begin(conn))
	}
	return t
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

// Rcpt runs the RCPT TO stage for one recipient. A logged-in account's
// suppressed recipient is refused first, whatever the filter list: the
// promise holds on every listener and on the HTTP API.
func (t *Txn) Rcpt(ctx context.Context, to string) error {
	if err := t.chain.suppressed(t.st, to); err != nil {
		return err
	}
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
	msg.Header = removeOurAuthResults(msg.Header, t.chain.authservID)
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
