// Package delivery moves queued messages to where they go: remote MX hosts
// or an upstream smarthost over SMTP, or the local mailbox store. The queue
// hands it one Request per message and destination; delivery answers with
// a Result per recipient and leaves retries and bounces to the queue.
package delivery

import (
	"context"
	"strings"
)

// Rcpt is one envelope recipient with its RFC 3461 parameters.
type Rcpt struct {
	Addr string
	// Orig is the address given in RCPT TO when Addr came from expanding
	// a forward or alias (mailmsg.Recipient.Orig); a remote Addr with a
	// local Orig is forwarded mail (see Forwarding).
	Orig string
	// Notify holds NEVER, or any of SUCCESS, FAILURE, DELAY; passed on to
	// remotes that offer DSN.
	Notify []string
	// ORCPT is "addr-type;address", e.g. "rfc822;user@example.com".
	ORCPT string
}

// Request is one message for recipients that share one destination
// domain.
type Request struct {
	ID         string // queue ID, for logs
	From       string // "" is the null reverse path
	Recipients []Rcpt
	// Body is the whole message with CRLF line ends. Bare CR or LF are
	// turned into CRLF before sending.
	Body       []byte
	UTF8       bool // needs SMTPUTF8
	EightBit   bool // needs 8BITMIME
	RequireTLS bool // REQUIRETLS (RFC 8689)
	Ret, EnvID string
	// Quarantine asks local delivery to file the message as junk.
	Quarantine bool
}

// Result is the outcome for one recipient: a nil Err means delivered,
// otherwise Err is a *Error saying whether to retry.
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
}

// Transport delivers a request and reports every recipient's outcome, in
// the order of req.Recipients.
type Transport interface {
	Deliver(ctx context.Context, req *Request) []Result
}

// Route names, used in metrics and logs.
const (
	RouteRemote    = "remote"
	RouteSmarthost = "smarthost"
	RouteLocal     = "local"
)

// domainOf returns the lower-case domain of an address.
func domainOf(addr string) string {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return ""
	}
	return strings.ToLower(strings.TrimSuffix(addr[i+1:], "."))
}

// allFail gives every recipient of req the same error.
func allFail(req *Request, err error) []Result {
	res := make([]Result, len(req.Recipients))
	for i, r := range req.Recipients {
		res[i] = Result{Rcpt: r.Addr, Err: err}
	}
	return res
}
