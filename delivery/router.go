package delivery

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"mailgate/internal/hops"
	"mailgate/internal/mailmsg"
)

// Router sends local-domain recipients to Local and the rest to Remote
// (a *Remote, or a *Smarthost when one is configured).
type Router struct {
	LocalDomains []string
	Local        Transport
	Remote       Transport
	// MaxReceived is limits.max_received_headers: a message that carries
	// more Received fields is not sent on (0: no limit).
	MaxReceived int
	// Forwarding, when set, rewrites and seals what forwards send on.
	Forwarding *Forwarding
	// Metrics counts the forwarded copies (nil: not counted).
	Metrics *Metrics
}

var _ Transport = (*Router)(nil)

// SmarthostDestination is the Destination of every remote recipient when
// a smarthost takes them all; no domain name has brackets.
const SmarthostDestination = "[smarthost]"

// Destination is the key by which the queue groups a message's
// recipients into one attempt: the recipient's domain (one MX lookup and
// one connection per domain), except that with a smarthost every remote
// recipient goes the same way, so a message to three domains is one
// connection, one AUTH and one copy at the smarthost, not three.
func (r *Router) Destination(addr string) string {
	if _, ok := r.Remote.(*Smarthost); ok && !r.IsLocal(addr) {
		return SmarthostDestination
	}
	return mailmsg.Domain(addr)
}

// IsLocal reports whether addr's domain is one of ours.
func (r *Router) IsLocal(addr string) bool {
	d := mailmsg.Domain(addr)
	return slices.ContainsFunc(r.LocalDomains, func(l string) bool { return strings.EqualFold(l, d) })
}

// Deliver splits req by route and merges the results in the order of
// req.Recipients.
func (r *Router) Deliver(ctx context.Context, req *mailmsg.Attempt) []mailmsg.Result {
	var local, remote []int
	for i, rc := range req.Recipients {
		if r.IsLocal(rc.Addr) {
			local = append(local, i)
		} else {
			remote = append(remote, i)
		}
	}
	res := make([]mailmsg.Result, len(req.Recipients))
	r.part(ctx, req, local, r.Local, res)
	if err := r.loop(req, len(remote)); err != nil {
		for _, i := range remote {
			res[i] = mailmsg.Result{Rcpt: req.Recipients[i].Addr, Err: err}
		}
		return res
	}
	r.remote(ctx, req, remote, res)
	return res
}

// loop refuses to send on a message that carries more Received fields
// than the limit: the relay refuses such a message at DATA, but one
// queued before the limit was lowered, or by an older version, must not
// go round a forwarding loop once more. It bounces (5.4.6, RFC 3463).
func (r *Router) loop(req *mailmsg.Attempt, remote int) error {
	if r.MaxReceived <= 0 || remote == 0 {
		return nil
	}
	if n := hops.Count(req.Body); n > r.MaxReceived {
		e := permErr(mailmsg.CmdData, "", "5.4.6", fmt.Sprintf("routing loop detected: the message carries %d Received fields, more than %d", n, r.MaxReceived), nil)
		e.Code = 554
		return e
	}
	return nil
}

// part delivers the recipients at idx through t into res.
func (r *Router) part(ctx context.Context, req *mailmsg.Attempt, idx []int, t Transport, res []mailmsg.Result) {
	if len(idx) == 0 {
		return
	}
	sub := *req
	sub.Recipients = make([]mailmsg.Recipient, len(idx))
	for j, i := range idx {
		sub.Recipients[j] = req.Recipients[i]
	}
	var out []mailmsg.Result
	if t == nil {
		out = mailmsg.AllFail(&sub, tempErr(mailmsg.CmdLocal, "", "4.3.5", "no transport is configured for this route", nil))
	} else {
		out = t.Deliver(ctx, &sub)
	}
	for j, i := range idx {
		res[i] = out[j]
	}
}

// Close ends the idle connections of the transports that keep some.
func (r *Router) Close() {
	for _, t := range []Transport{r.Local, r.Remote} {
		if c, ok := t.(interface{ Close() }); ok {
			c.Close()
		}
	}
}
