package delivery

import (
	"context"
	"log/slog"
	"time"

	"mailgate/arc"
	"mailgate/internal/mailmsg"
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
func (r *Router) remote(ctx context.Context, req *mailmsg.Attempt, idx []int, res []mailmsg.Result) {
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
			sub = r.Forwarding.prepare(ctx, req, via, r.IsLocal, r.Metrics)
		}
		r.part(ctx, sub, groups[via], r.Remote, res)
	}
}

// forwardedBy is the local address whose forward made rc, or "".
func (r *Router) forwardedBy(rc mailmsg.Recipient) string {
	if r.Forwarding == nil || rc.Orig == "" || !r.IsLocal(rc.Orig) {
		return ""
	}
	return rc.Orig
}

// prepare returns a copy of req as the forward via sends it on. A failure
// to rewrite or seal is logged and the message goes as it is: that is
// what it would have been without forwarding support. The envelope is
// copied too: req's is the queue's own, which the SRS sender must not touch.
func (f *Forwarding) prepare(ctx context.Context, req *mailmsg.Attempt, via string, isLocal func(string) bool, m *Metrics) *mailmsg.Attempt {
	out, env := *req, *req.Envelope
	out.Envelope = &env
	log := orDiscard(f.Logger).With("msgid", req.ID, "forward", via)
	srsDone := f.rewrite(&out, via, isLocal, log)
	arcDone := f.seal(ctx, &out, via, log)
	m.forward(srsDone, arcDone)
	return &out
}

// rewrite puts the SRS sender into out and says what it did: rewritten,
// kept (<>, a local sender, keep_sender, SRS off) or failed.
func (f *Forwarding) rewrite(out *mailmsg.Attempt, via string, isLocal func(string) bool, log *slog.Logger) string {
	if f.SRS == nil || out.From == "" || isLocal(out.From) || f.KeepSender != nil && f.KeepSender(via) {
		return "kept"
	}
	from, err := f.SRS.Forward(out.From, mailmsg.Domain(via))
	if err != nil {
		log.Warn("srs rewrite failed; the original sender is kept", "err", err)
		return "failed"
	}
	out.From = from
	return "rewritten"
}

// seal puts an ARC set on top of out's body and says what it did:
// sealed, none (no key for the domain, ARC off) or failed.
func (f *Forwarding) seal(ctx context.Context, out *mailmsg.Attempt, via string, log *slog.Logger) string {
	var s *arc.Sealer
	if f.Sealer != nil {
		s = f.Sealer(mailmsg.Domain(via))
	}
	if s == nil {
		return "none"
	}
	vctx, cancel := context.WithTimeout(ctx, arcVerifyTimeout)
	cv := arc.Verify(vctx, out.Body, f.LookupTXT)
	cancel()
	set, err := s.Seal(out.Body, arc.OwnResults(out.Body, f.AuthServID), cv.Status)
	if err != nil {
		log.Warn("arc seal failed; the message goes without a new set", "err", err)
		return "failed"
	}
	out.Body = append(set, out.Body...)
	log.Debug("forward sealed", "from", out.From, "arc_cv", cv.Status)
	return "sealed"
}
