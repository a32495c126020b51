package mailmsg

import (
	"fmt"
	"strings"
)

// Attempt is one delivery attempt of a message to recipients that share
// one destination. Its Envelope is the queue's own (read it, never change
// it); Recipients are the ones due now, a subset of Envelope.Recipients
// (they shadow that field).
type Attempt struct {
	*Envelope
	Recipients []Recipient
	// Body is the whole message with CRLF line ends. Bare CR or LF are
	// turned into CRLF before sending.
	Body []byte
}

// Result is the outcome for one recipient of an Attempt: a nil Err means
// delivered, otherwise Err is an *Error saying whether to retry.
type Result struct {
	Rcpt string
	Err  error
	// Relayed is set when the recipient went to another SMTP server, not
	// into a local mailbox: a success report then says "relayed" unless
	// the server took over the DSN request (RFC 3461 section 6.2.1).
	Relayed bool
	// NextHopDSN is set when that server offered DSN and was given the
	// RET, ENVID, NOTIFY and ORCPT parameters: reporting success is then
	// its job, and the queue sends no success report of its own.
	NextHopDSN bool
	// Reply is the remote server's final reply to the content (such as
	// "250 2.0.0 Ok: queued as 4dNt"), CR/LF stripped, when it took the
	// message; empty for a local mailbox.
	Reply string
}

// Commands an Error can be about.
const (
	CmdDNS     = "DNS"
	CmdConnect = "CONNECT"
	CmdTLS     = "TLS"
	CmdAuth    = "AUTH"
	CmdMail    = "MAIL"
	CmdRcpt    = "RCPT"
	CmdData    = "DATA"
	CmdLocal   = "LOCAL"
)

// Error is why a recipient was not delivered. Permanent errors bounce;
// the others are retried by the queue.
type Error struct {
	Permanent bool
	Code      int    // SMTP reply code, ours when the remote gave none
	Enhanced  string // RFC 3463 status, e.g. "5.1.1"
	Command   string // the step that failed (Cmd* constants)
	// RemoteLine is the remote server's reply, CR/LF stripped; empty when
	// the failure was ours (DNS, connection, local store).
	RemoteLine string
	// RemoteMTA is the host that gave RemoteLine (or that we tried).
	RemoteMTA string
	// Reason explains failures that have no remote reply.
	Reason string
	Err    error // underlying cause, for logs
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Command)
	if e.RemoteMTA != "" {
		b.WriteString(" " + e.RemoteMTA)
	}
	b.WriteString(": ")
	if e.RemoteLine != "" {
		b.WriteString(e.RemoteLine)
	} else {
		fmt.Fprintf(&b, "%d %s %s", e.Code, e.Enhanced, e.Reason)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Diagnostic is the text for a DSN's Diagnostic-Code field: the remote's
// reply when there is one, else our reason.
func (e *Error) Diagnostic() string {
	if e.RemoteLine != "" {
		return e.RemoteLine
	}
	return fmt.Sprintf("%d %s %s", e.Code, e.Enhanced, e.Reason)
}

// AllFail gives every recipient of a the same error.
func AllFail(a *Attempt, err error) []Result {
	res := make([]Result, len(a.Recipients))
	for i, r := range a.Recipients {
		res[i] = Result{Rcpt: r.Addr, Err: err}
	}
	return res
}
