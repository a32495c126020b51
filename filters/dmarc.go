package filters

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/emersion/go-msgauth/authres"
	"github.com/emersion/go-msgauth/dmarc"
	"github.com/emersion/go-smtp"
	"golang.org/x/net/publicsuffix"

	"mailgate/config"
	"mailgate/internal/mailmsg"
	"mailgate/resolver"
)

// dmarcFilter applies the header From domain's DMARC policy (RFC 7489),
// using the SPF and DKIM results recorded earlier in the chain.
type dmarcFilter struct {
	resolver resolver.Resolver
	timeout  time.Duration
	percent  func() int
	actions  map[string]string // every result's action
	reports  DMARCRecorder     // nil: no aggregate reports
	trusted  []string          // ARC sealers whose passing chain overrides a failure
}

func newDMARC(c *DMARCConfig, _ *config.Config, deps Deps) (*dmarcFilter, error) {
	return &dmarcFilter{resolver: deps.Resolver, timeout: c.Timeout.D(), percent: deps.Percent, trusted: c.TrustedARCSealers,
		actions: c.Actions.over(dmarcResults), reports: deps.DMARCReports}, nil
}

func (f *dmarcFilter) Name() string             { return "dmarc" }
func (f *dmarcFilter) Begin(conn *Conn) Session { return f }
func (f *dmarcFilter) Close()                   {}

// CheckData evaluates DMARC for the message. Authenticated sessions are
// not checked.
func (f *dmarcFilter) CheckData(ctx context.Context, st *State, msg *Message) Verdict {
	if st.Conn.Account != "" {
		return Verdict{}
	}
	from := mailmsg.Domain(fromAddress(msg.Header))
	if from == "" {
		st.auth = append(st.auth, &authres.DMARCResult{Value: authres.ResultPermError, Reason: "no single From address"})
		return Verdict{Result: "permerror", Reason: "header From missing, repeated or unparsable"}
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	rec, sub, err := f.lookup(ctx, from)
	result, arValue, reason := "", authres.ResultValue(""), ""
	switch {
	case errors.Is(err, dmarc.ErrNoPolicy):
		result, arValue = "none", authres.ResultNone
	case dmarc.IsTempFail(err):
		result, arValue, reason = "temperror", authres.ResultTempError, "DNS temporary error"
	case err != nil:
		result, arValue, reason = "permerror", authres.ResultPermError, "invalid DMARC record"
	case aligned(st, rec, from):
		result, arValue = "pass", authres.ResultPass
	default:
		policy := f.applied(rec, sub)
		result, arValue, reason = "fail_"+string(policy), authres.ResultFail, "p="+string(policy)
		if sealer, ok := arcOverride(st, f.trusted); ok {
			// The failure is reported as it is; the policy is not applied
			// (RFC 7489 section 7.2.1's local policy "trusted_forwarder").
			result, reason = "pass", "p="+string(policy)+" overridden: ARC chain sealed by trusted "+sealer
		}
	}
	st.auth = append(st.auth, &authres.DMARCResult{Value: arValue, From: from, Reason: reason})
	f.record(st, rec, policyDomain(from, sub), from, result)
	return Verdict{Result: result, Reason: reason, Reply: &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1},
		Message: fmt.Sprintf("DMARC policy of %s refuses this message: neither SPF nor DKIM aligned with the From domain", from)}}
}

// policyDomain is the domain whose record applied: the From domain, or
// its organizational domain when the record came from there.
func policyDomain(from string, sub bool) string {
	if sub {
		return orgDomain(from)
	}
	return from
}

// lookup finds the policy of domain, falling back to its organizational
// domain; sub reports that the record came from there (so sp= applies).
func (f *dmarcFilter) lookup(ctx context.Context, domain string) (rec *dmarc.Record, sub bool, err error) {
	opts := &dmarc.LookupOptions{LookupTXT: func(name string) ([]string, error) { return f.resolver.LookupTXT(ctx, name) }}
	rec, err = dmarc.LookupWithOptions(domain, opts)
	org := orgDomain(domain)
	if errors.Is(err, dmarc.ErrNoPolicy) && org != domain {
		rec, err = dmarc.LookupWithOptions(org, opts)
		sub = true
	}
	return rec, sub, err
}

// applied is the policy to apply: sp= for subdomains, lowered one step
// when the message falls outside pct= (RFC 7489 section 6.6.4).
func (f *dmarcFilter) applied(rec *dmarc.Record, sub bool) dmarc.Policy {
	p := rec.Policy
	if sub && rec.SubdomainPolicy != "" {
		p = rec.SubdomainPolicy
	}
	if rec.Percent != nil && *rec.Percent < 100 && f.percent() >= *rec.Percent {
		switch p {
		case dmarc.PolicyReject:
			p = dmarc.PolicyQuarantine
		case dmarc.PolicyQuarantine:
			p = dmarc.PolicyNone
		}
	}
	if p != dmarc.PolicyReject && p != dmarc.PolicyQuarantine {
		p = dmarc.PolicyNone
	}
	return p
}

// aligned reports whether a passing SPF or DKIM identity aligns with the
// From domain under the record's modes.
func aligned(st *State, rec *dmarc.Record, from string) bool {
	if st.SPF != nil && st.SPF.Result == "pass" && alignedDomain(st.SPF.Domain, from, rec.SPFAlignment) {
		return true
	}
	for _, d := range st.DKIM {
		if d.Result == "pass" && alignedDomain(d.Domain, from, rec.DKIMAlignment) {
			return true
		}
	}
	return false
}

// alignedDomain compares strictly (equal) or relaxed (same organizational
// domain, per the public suffix list).
func alignedDomain(id, from string, mode dmarc.AlignmentMode) bool {
	id, from = strings.ToLower(strings.TrimSuffix(id, ".")), strings.ToLower(from)
	if id == "" {
		return false
	}
	if mode == dmarc.AlignmentStrict {
		return id == from
	}
	return orgDomain(id) == orgDomain(from)
}

// orgDomain is the registered domain under its public suffix.
func orgDomain(domain string) string {
	org, err := publicsuffix.EffectiveTLDPlusOne(domain)
	if err != nil {
		return domain
	}
	return org
}
