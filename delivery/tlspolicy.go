package delivery

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"strings"
	"time"

	"mailgate/dane"
	"mailgate/internal/mailmsg"
	"mailgate/mtasts"
	"mailgate/tlsrpt"
)

// TLS policies a remote delivery runs under, as the delivery log's tls
// field and the metrics name them.
const (
	PolicyDANE          = "dane"
	PolicyMTASTS        = "mta-sts"
	PolicyRequired      = "require_tls"
	PolicyOpportunistic = "opportunistic"
	PolicyNone          = "none" // no TLS at all (the peer offered none)
)

// TLSPolicies are the sources of a destination's TLS policy. DANE wins
// over MTA-STS where both exist (RFC 8461 §2); either wins over
// opportunistic STARTTLS. Nil fields are off.
type TLSPolicies struct {
	STS    *mtasts.Fetcher
	DANE   *dane.Resolver
	Report TLSReporter
}

// TLSReporter records the outcome of each new connection for TLS-RPT
// (RFC 8460).
type TLSReporter interface {
	Record(o TLSOutcome)
}

// TLSOutcome is one connection attempt under a policy, or one policy
// that could not be had.
type TLSOutcome = tlsrpt.Outcome

// destPolicy is what applies to one destination domain in one attempt.
type destPolicy struct {
	domain   string
	base     tlsMode // tlsVerified when require_tls names the domain
	secureMX bool    // DNSSEC vouches for the MX set: DANE may apply
	sts      *mtasts.Policy
}

// hostPolicy is what applies to one MX host.
type hostPolicy struct {
	mode   tlsMode
	label  string // Policy*
	tlsa   []dane.TLSA
	names  []string    // DANE reference identifiers: the expanded name, the MX name
	report *TLSOutcome // the report row this host's connection fills in, or nil
}

// policy finds the destination's policies. A failure to fetch an
// MTA-STS policy is reported and the cached policy (if any) applies.
func (r *Remote) policy(ctx context.Context, domain string, base tlsMode) destPolicy {
	p := destPolicy{domain: domain, base: base}
	if r.Policies.DANE != nil {
		p.secureMX, _ = r.Policies.DANE.SecureMX(ctx, domain)
	}
	if r.Policies.STS != nil {
		sts, err := r.Policies.STS.Lookup(ctx, domain)
		var fe *mtasts.FetchError
		if errors.As(err, &fe) {
			r.report(TLSOutcome{PolicyDomain: domain, PolicyType: "sts", Result: fe.Type, Detail: fe.Err.Error()})
		}
		if sts != nil && sts.Mode != mtasts.None {
			p.sts = sts
		}
	}
	return p
}

// host decides how to talk to one MX host. An error skips the host: an
// MX that an enforced policy does not name, or a TLSA lookup that failed
// for a secure MX (RFC 7672 §2.2.2: the host is then unusable).
func (r *Remote) host(ctx context.Context, p destPolicy, h string) (hostPolicy, error) {
	if p.secureMX {
		hp, ok, err := r.daneHost(ctx, p, h)
		if err != nil || ok {
			return hp, err
		}
	}
	if p.sts != nil {
		return r.stsHost(p, h)
	}
	if p.base == tlsVerified {
		return hostPolicy{mode: tlsVerified, label: PolicyRequired}, nil
	}
	return hostPolicy{mode: tlsOpportunistic, label: PolicyOpportunistic}, nil
}

// daneHost applies DANE to one MX host of a secure MX set: only when its
// address records are validated too, trying the CNAME-expanded name's
// TLSA records before the MX name's (RFC 7672 §2.2.2). ok is false
// when DANE does not apply to this host.
func (r *Remote) daneHost(ctx context.Context, p destPolicy, h string) (hp hostPolicy, ok bool, err error) {
	ha, err := r.Policies.DANE.Host(ctx, h)
	if err != nil {
		return hostPolicy{}, false, r.daneLookupFailed(p, h, "address", err)
	}
	if !ha.Secure {
		return hostPolicy{}, false, nil
	}
	for _, base := range ha.Names {
		a, err := r.Policies.DANE.TLSA(ctx, base, r.port())
		if err != nil {
			return hostPolicy{}, false, r.daneLookupFailed(p, h, "TLSA", err)
		}
		if !a.Secure || !a.Exists {
			continue
		}
		hp := hostPolicy{mode: tlsDANE, label: PolicyDANE, tlsa: a.TLSA, names: ha.Names}
		if !dane.Usable(a.TLSA) {
			hp.mode = tlsEncrypt // RFC 7672 §2.2: TLS still mandatory
		}
		hp.report = &TLSOutcome{PolicyDomain: p.domain, PolicyType: "tlsa", Policy: tlsaStrings(a.TLSA), MXHost: h}
		return hp, true, nil
	}
	return hostPolicy{}, false, nil
}

// daneLookupFailed reports a failed DNSSEC lookup for a host of a secure
// MX set: the host cannot be used, with or without DANE.
func (r *Remote) daneLookupFailed(p destPolicy, h, what string, err error) error {
	r.report(TLSOutcome{PolicyDomain: p.domain, PolicyType: "tlsa", MXHost: h, Result: "dnssec-invalid", Detail: err.Error()})
	return tempErr(mailmsg.CmdTLS, h, "4.7.5", "DANE: the "+what+" lookup for "+h+" failed, so it cannot be used: "+err.Error(), err)
}

func (r *Remote) stsHost(p destPolicy, h string) (hostPolicy, error) {
	row := &TLSOutcome{PolicyDomain: p.domain, PolicyType: "sts", Policy: stsStrings(p.sts), MXHost: h}
	if !p.sts.MatchMX(h) {
		row.Result, row.Detail = "validation-failure", h+" is not an MX host the policy names"
		r.report(*row)
		if p.sts.Mode == mtasts.Enforce {
			return hostPolicy{}, tempErr(mailmsg.CmdTLS, h, "4.7.5", "MTA-STS: the policy of "+p.domain+" does not name "+h+" as an MX host", nil)
		}
		return hostPolicy{mode: tlsOpportunistic, label: PolicyMTASTS}, nil
	}
	if p.sts.Mode == mtasts.Enforce {
		return hostPolicy{mode: tlsVerified, label: PolicyMTASTS, report: row}, nil
	}
	// testing: deliver whatever happens, report what would have failed.
	return hostPolicy{mode: tlsOpportunistic, label: PolicyMTASTS, report: row}, nil
}

func (r *Remote) report(o TLSOutcome) {
	r.Metrics.policyOutcome(o.PolicyType, o.Result)
	if r.Policies.Report != nil {
		r.Policies.Report.Record(o)
	}
}

func tlsaStrings(recs []dane.TLSA) []string {
	out := make([]string, len(recs))
	for i, t := range recs {
		out[i] = t.String()
	}
	return out
}

func stsStrings(p *mtasts.Policy) []string {
	var out []string
	for _, l := range strings.Split(strings.ReplaceAll(p.Text, "\r\n", "\n"), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// verifyPeer checks a server's certificate chain under the target's
// mode and returns the label the session gets: verified (PKIX for the MX
// name), dane, or unverified.
func (d *dialer) verifyPeer(cs tls.ConnectionState, t target) (string, error) {
	if len(cs.PeerCertificates) == 0 {
		return "", errors.New("no certificate")
	}
	if t.mode == tlsDANE {
		names := t.names
		if len(names) == 0 {
			names = []string{t.mta}
		}
		if err := dane.Verify(cs.PeerCertificates, t.tlsa, names, time.Now()); err != nil {
			return "", err
		}
		return tlsLabelDANE, nil
	}
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{DNSName: t.mta, Roots: d.rootCAs, Intermediates: inter})
	if err != nil {
		return tlsLabelUnverified, err
	}
	return tlsLabelVerified, nil
}

// tlsResultType names a TLS failure as RFC 8460 §4.3 does.
func tlsResultType(err error) string {
	var host x509.HostnameError
	var invalid x509.CertificateInvalidError
	var unknown x509.UnknownAuthorityError
	switch {
	case err == nil:
		return ""
	case errors.Is(err, errNoSTARTTLS):
		return "starttls-not-supported"
	case errors.As(err, &host):
		return "certificate-host-mismatch"
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		return "certificate-expired"
	case errors.As(err, &unknown):
		return "certificate-not-trusted"
	case errors.Is(err, errDANEMismatch):
		return "tlsa-invalid"
	}
	return "validation-failure"
}
