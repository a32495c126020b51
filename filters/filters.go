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

	"mailgate/config"
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
}

// Deps are what filters need from the rest of the program.
type Deps struct {
	Logger *slog.Logger
	// SendAs reports whether account may use addr as a sender address.
	SendAs func(account, addr string) bool
}

// Chain is the ordered list of filters configured for one listener.
type Chain struct {
	names []string
}

// New builds the chain for one listener from the config.
func New(cfg *config.Config, l config.Listener, deps Deps) (*Chain, error) {
	return &Chain{names: l.Filters}, nil
}

// Txn is the per-connection state of a chain; Reset starts the next
// transaction on the same connection.
type Txn struct {
	chain *Chain
	conn  *Conn
}

// Begin runs the connection stage. A non-nil error is an *smtp.SMTPError to
// send to the client before closing.
func (c *Chain) Begin(ctx context.Context, conn *Conn) (*Txn, error) {
	return &Txn{chain: c, conn: conn}, nil
}

// Mail runs the MAIL FROM stage; from is "" for the null reverse-path.
func (t *Txn) Mail(ctx context.Context, from string) error { return nil }

// Rcpt runs the RCPT TO stage for one recipient.
func (t *Txn) Rcpt(ctx context.Context, to string) error { return nil }

// Data runs the DATA stage: checks first, then header-adding steps.
func (t *Txn) Data(ctx context.Context, msg *Message) error { return nil }

// Reset ends the current transaction (RSET, or after DATA).
func (t *Txn) Reset() {}

// Close releases the connection's state.
func (t *Txn) Close() {}
