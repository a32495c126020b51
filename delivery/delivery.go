// Package delivery moves queued messages to where they go: remote MX hosts
// or an upstream smarthost over SMTP, or the local mailbox store. The queue
// hands it one mailmsg.Attempt per message and destination; delivery
// answers with a mailmsg.Result per recipient and leaves retries and bounces to the queue.
package delivery

import (
	"context"

	"mailgate/internal/mailmsg"
)

// Transport delivers a request and reports every recipient's outcome, in
// the order of req.Recipients.
type Transport interface {
	Deliver(ctx context.Context, req *mailmsg.Attempt) []mailmsg.Result
}

// Route names, used in metrics and logs.
const (
	RouteRemote    = "remote"
	RouteSmarthost = "smarthost"
	RouteLocal     = "local"
)
