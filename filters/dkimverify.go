package filters

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"time"

	"github.com/emersion/go-msgauth/authres"
	"github.com/emersion/go-msgauth/dkim"

	"mailgate/config"
	"mailgate/resolver"
)

// dkimOutcome is one checked DKIM signature.
type dkimOutcome struct {
	Result   string // pass, fail, policy, temperror, permerror
	Domain   string // d=
	Selector string // s=
	Sig      string // b=, without folding whitespace
	Reason   string
}

// dkimVerifyFilter checks up to a configured number of DKIM signatures.
//
// Policy for l= (body length) signatures: they are never trusted. Anyone can
// append content after the signed length, so such a signature proves nothing
// about what the recipient reads. They are reported as dkim=policy, do not
// count as a pass for DMARC, and are not a failure either. (go-msgauth
// already refuses to verify them; we name the reason instead of "fail".)
type dkimVerifyFilter struct {
	resolver resolver.Resolver
	max      int
	timeout  time.Duration
}

func newDKIMVerify(c *DKIMVerifyConfig, _ *config.Config, deps Deps) (*dkimVerifyFilter, error) {
	return &dkimVerifyFilter{resolver: deps.Resolver, max: c.MaxSignatures, timeout: c.Timeout.D()}, nil
}

func (f *dkimVerifyFilter) Name() string             { return "dkim_verify" }
func (f *dkimVerifyFilter) Begin(conn *Conn) Session { return f }
func (f *dkimVerifyFilter) Close()                   {}

// CheckData verifies the signatures and records one result per signature.
func (f *dkimVerifyFilter) CheckData(ctx context.Context, st *State, msg *Message) Verdict {
	outs := f.verify(ctx, msg)
	st.DKIM = outs
	if len(outs) == 0 {
		st.auth = append(st.auth, &authres.DKIMResult{Value: authres.ResultNone})
		return Verdict{Result: "none"}
	}
	n := sigPrefixLen(outs)
	for _, o := range outs {
		st.auth = append(st.auth, dkimAuthResult(o, n))
	}
	return Verdict{Result: summary(outs), Reason: outs[0].Reason}
}

// dkimAuthResult is the Authentication-Results entry of one signature. It
// names the selector and the first n characters of b= (RFC 6008
// section 4), so that two signatures of one domain can be told apart
// (and matched to their DKIM-Signature field).
func dkimAuthResult(o dkimOutcome, n int) authres.Result {
	p := map[string]string{"header.d": o.Domain, "header.s": o.Selector, "reason": o.Reason}
	if o.Sig != "" {
		p["header.b"] = o.Sig[:min(n, len(o.Sig))]
	}
	return &authres.GenericResult{Method: "dkim", Value: authres.ResultValue(o.Result), Params: p}
}

// minSigPrefix is RFC 6008's minimum length of header.b.
const minSigPrefix = 8

// sigPrefixLen is the shortest length, at least minSigPrefix, at which
// the b= prefixes of distinct signatures differ (RFC 6008 section 4:
// enough of the value to tell the message's signatures apart).
func sigPrefixLen(outs []dkimOutcome) int {
	n := minSigPrefix
	for i := range outs {
		for j := i + 1; j < len(outs); j++ {
			a, b := outs[i].Sig, outs[j].Sig
			if a == b {
				continue
			}
			k := 0
			for k < len(a) && k < len(b) && a[k] == b[k] {
				k++
			}
			n = max(n, k+1)
		}
	}
	return n
}

// summary is the message's DKIM verdict: the best signature wins.
func summary(outs []dkimOutcome) string {
	for _, want := range []string{"pass", "temperror", "fail", "permerror", "policy"} {
		for _, o := range outs {
			if o.Result == want {
				return want
			}
		}
	}
	return "none"
}

// verify checks the message's signatures, at most f.max of them.
func (f *dkimVerifyFilter) verify(ctx context.Context, msg *Message) []dkimOutcome {
	sigs := headerValues(msg.Header, "DKIM-Signature")
	if len(sigs) == 0 {
		return nil
	}
	if len(sigs) > f.max {
		sigs = sigs[:f.max]
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	lookup := func(name string) ([]string, error) { return f.resolver.LookupTXT(ctx, name) }
	verifs, err := dkim.VerifyWithOptions(io.MultiReader(bytes.NewReader(msg.Header), bodyReader(msg.Body)), &dkim.VerifyOptions{LookupTXT: lookup, MaxVerifications: f.max})
	if err != nil && !errors.Is(err, dkim.ErrTooManySignatures) && len(verifs) == 0 {
		return []dkimOutcome{{Result: "permerror", Domain: tagValue(sigs[0], "d"), Selector: tagValue(sigs[0], "s"),
			Sig: tagValue(sigs[0], "b"), Reason: "malformed message header"}}
	}
	outs := make([]dkimOutcome, 0, len(verifs))
	for i, v := range verifs {
		o := dkimOutcome{Domain: v.Domain, Result: dkimResult(v.Err)}
		if v.Err != nil {
			o.Reason = publicReason(v.Err)
		}
		if i < len(sigs) {
			o.Selector, o.Sig = tagValue(sigs[i], "s"), tagValue(sigs[i], "b")
			if hasTag(sigs[i], "l") {
				o.Result, o.Reason = "policy", "body length tag l= not accepted"
			}
		}
		outs = append(outs, o)
	}
	return outs
}

// dkimResult maps go-msgauth's error classes to RFC 8601 results; a DNS
// temporary failure is temperror, never fail.
func dkimResult(err error) string {
	switch {
	case err == nil:
		return "pass"
	case dkim.IsTempFail(err):
		return "temperror"
	case dkim.IsPermFail(err):
		return "permerror"
	}
	return "fail"
}

// tagValue returns tag's value in a DKIM tag list ("" if absent).
func tagValue(list, tag string) string {
	for _, kv := range strings.Split(list, ";") {
		k, v, ok := strings.Cut(kv, "=")
		if ok && strings.TrimSpace(k) == tag {
			return strings.Join(strings.Fields(v), "")
		}
	}
	return ""
}

func hasTag(list, tag string) bool {
	for _, kv := range strings.Split(list, ";") {
		k, _, ok := strings.Cut(kv, "=")
		if ok && strings.TrimSpace(k) == tag {
			return true
		}
	}
	return false
}

// publicReason is the library's reason without DNS error details, which
// name our resolver's address and do not belong in a header.
func publicReason(err error) string {
	r := strings.TrimPrefix(err.Error(), "dkim: ")
	if i := strings.Index(r, ": lookup "); i >= 0 {
		r = r[:i]
	}
	return r
}
