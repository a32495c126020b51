package delivery

import (
	"context"
	"slices"
	"strings"
)

// Router sends local-domain recipients to Local and the rest to Remote
// (a *Remote, or a *Smarthost when one is configured).
type Router struct {
	LocalDomains []string
	Local        Transport
	Remote       Transport
}

var _ Transport = (*Router)(nil)

// IsLocal reports whether addr's domain is one of ours.
func (r *Router) IsLocal(addr string) bool {
	d := domainOf(addr)
	return slices.ContainsFunc(r.LocalDomains, func(l string) bool { return strings.EqualFold(l, d) })
}

// Deliver splits req by route and merges the results in the order of
// req.Recipients.
func (r *Router) Deliver(ctx context.Context, req *Request) []Result {
	var local, remote []int
	for i, rc := range req.Recipients {
		if r.IsLocal(rc.Addr) {
			local = append(local, i)
		} else {
			remote = append(remote, i)
		}
	}
	res := make([]Result, len(req.Recipients))
	r.part(ctx, req, local, r.Local, res)
	r.part(ctx, req, remote, r.Remote, res)
	return res
}

// part delivers the recipients at idx through t into res.
func (r *Router) part(ctx context.Context, req *Request, idx []int, t Transport, res []Result) {
	if len(idx) == 0 {
		return
	}
	sub := *req
	sub.Recipients = make([]Rcpt, len(idx))
	for j, i := range idx {
		sub.Recipients[j] = req.Recipients[i]
	}
	var out []Result
	if t == nil {
		out = allFail(&sub, tempErr(CmdLocal, "", "4.3.5", "no transport is configured for this route", nil))
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
