package filters

import (
	"strings"

	"github.com/emersion/go-msgauth/dmarc"

	"mailgate/dmarcrpt"
	"mailgate/internal/mailmsg"
)

// DMARCRecorder keeps DMARC evaluations for aggregate reports
// (*dmarcrpt.Recorder is one).
type DMARCRecorder interface {
	Record(pub dmarcrpt.Published, e dmarcrpt.Evaluation)
}

// record counts one evaluation under the policy found. The disposition
// is what this server does with the message (the configured action for
// the result), not only what the policy asked; a temporary failure is not
// counted, since the message will come again.
func (f *dmarcFilter) record(st *State, rec *dmarc.Record, policyDomain, from, result string) {
	if f.reports == nil || rec == nil {
		return
	}
	disp := "none"
	switch f.actions[result] {
	case ActionTempfail:
		return
	case ActionReject, ActionDiscard:
		disp = "reject"
	case ActionQuarantine:
		disp = "quarantine"
	}
	e := dmarcrpt.Evaluation{SourceIP: st.Conn.IP.String(), HeaderFrom: from, EnvelopeFrom: mailmsg.Domain(st.From),
		Disposition: disp, DKIM: "fail", SPF: "fail"}
	for _, d := range st.DKIM {
		e.DKIMAuth = append(e.DKIMAuth, dmarcrpt.DKIMAuth{Domain: d.Domain, Selector: d.Selector, Result: d.Result})
		if d.Result == "pass" && alignedDomain(d.Domain, from, rec.DKIMAlignment) {
			e.DKIM = "pass"
		}
	}
	if st.SPF != nil {
		scope := "mfrom"
		if st.From == "" {
			scope = "helo"
		}
		e.SPFAuth = dmarcrpt.SPFAuth{Domain: st.SPF.Domain, Scope: scope, Result: st.SPF.Result}
		if st.SPF.Result == "pass" && alignedDomain(st.SPF.Domain, from, rec.SPFAlignment) {
			e.SPF = "pass"
		}
	}
	f.reports.Record(published(rec, policyDomain), e)
}

func published(rec *dmarc.Record, domain string) dmarcrpt.Published {
	p := dmarcrpt.Published{Domain: domain, ADKIM: string(rec.DKIMAlignment), ASPF: string(rec.SPFAlignment),
		P: string(rec.Policy), SP: string(rec.SubdomainPolicy), Pct: 100, FO: failureOptions(rec.FailureOptions),
		RUA: rec.ReportURIAggregate}
	if rec.Percent != nil {
		p.Pct = *rec.Percent
	}
	return p
}

// failureOptions writes the record's fo= tag back as the report's fo
// element wants it ("0", "1", "d", "s" joined by colons).
func failureOptions(o dmarc.FailureOptions) string {
	var out []string
	for _, f := range []struct {
		bit  dmarc.FailureOptions
		name string
	}{{dmarc.FailureAll, "0"}, {dmarc.FailureAny, "1"}, {dmarc.FailureDKIM, "d"}, {dmarc.FailureSPF, "s"}} {
		if o&f.bit != 0 {
			out = append(out, f.name)
		}
	}
	if len(out) == 0 {
		return "0"
	}
	return strings.Join(out, ":")
}
