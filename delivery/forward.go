package delivery

import (
	"context"
	"log/slog"
	"time"

	"mailgate/arc"
	"mailgate/srs"
)

// Forwarding prepares mail that a forward sends on to another server, so
// that it still passes there: the envelope sender is rewritten into the
// forwarding domain (SRS), so the next hop's SPF check looks at us, and
// an ARC set records the SPF, DKIM and DMARC results we saw on arrival.
type Forwarding struct {
	// SRS rewrites the sender; nil leaves it as it is.
	SRS *srs.Rewriter
	// Sealer returns the ARC sealer of a forwarding domain; nil, or a nil
	// answer, adds no ARC set.
	Sealer func(domain string) *arc.Sealer
	// LookupTXT fetches the keys of an ARC chain already on the message.
	LookupTXT arc.LookupTXT
	// AuthServID is the name our Authentication-Results fields carry.
	AuthServID string
	// KeepSender reports forward addresses exempt from SRS.
	KeepSender func(addr string) bool
	Logger     *slog.Logger
}

// arcVerifyTimeout bounds the key lookups for the chain already on a
// message before it is sealed again (as filters.arc_verify.timeout).
const arcVerifyTimeout = 20 * time.Second

// remote delivers the remote recipients at idx: those a forward of ours
// produced go out as that forward sends them, one transaction per
// forward address, the others as they are.
func (r *Router) remote(ctx context.Context, req *Request, idx []int, res []Result) {
	var order []string
	groups := map[string][]int{}
	for _, i := range idx {
		via := r.forwardedBy(req.Recipients[i])
		if _, ok := groups[via]; !ok {
			order = append(order, via)
		}
		groups[via] = append(groups[via], i)
	}
	for _, via := range order {
		sub := req
		if via != "" {
			sub = r.Forwarding.prepare(ctx, req, via, r.IsLocal)
		}
		r.part(ctx, sub, groups[via], r.Remote, res)
	}
}

// forwardedBy is the local address whose forward made rc, or "".
func (r *Router) forwardedBy(rc Rcpt) string {
	if r.Forwarding == nil || rc.Orig == "" || !r.IsLocal(rc.Orig) {
		return ""
	}
	return rc.Orig
}

// prepare returns a copy of req as the forward via sends it on. A failure
// to rewrite or seal is logged and the message goes as it is: that is
// what it would have been without forwarding support.
func (f *Forwarding) prepare(ctx context.Context, req *Request, via string, isLocal func(string) bool) *Request {
	out := *req
	domain := domainOf(via)
	log := orDiscard(f.Logger).With("msgid", req.ID, "forward", via)
	if f.SRS != nil && req.From != "" && !isLocal(req.From) && (f.KeepSender == nil || !f.KeepSender(via)) {
		if from, err := f.SRS.Forward(req.From, domain); err != nil {
			log.Warn("srs rewrite failed; the original sender is kept", "err", err)
		} else {
			out.From = from
		}
	}
	if f.Sealer == nil {
		return &out
	}
	s := f.Sealer(domain)
	if s == nil {
		return &out
	}
	vctx, cancel := context.WithTimeout(ctx, arcVerifyTimeout)
	cv := arc.Verify(vctx, req.Body, f.LookupTXT)
	cancel()
	set, err := s.Seal(req.Body, arc.OwnResults(req.Body, f.AuthServID), cv.Status)
	if err != nil {
		log.Warn("arc seal failed; the message goes without a new set", "err", err)
		return &out
	}
	out.Body = append(set, req.Body...)
	log.Debug("forward sealed", "from", out.From, "arc_cv", cv.Status)
	return &out
}
