package delivery

import (
	"context"
	"crypto/x509"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"mailgate/internal/mailmsg"
	"mailgate/resolver"
)

// maxAddresses bounds the addresses tried in one attempt, so a domain
// with many dead MX hosts cannot hold a worker for long (Postfix's
// smtp_mx_address_limit has the same purpose).
const maxAddresses = 10

// Remote delivers to the recipients' MX hosts.
type Remote struct {
	Resolver resolver.Resolver
	Hostname string // sent in EHLO
	Port     int    // 25 unless a test says otherwise
	// RequireTLS lists domains whose MX hosts must offer STARTTLS with a
	// certificate valid for the MX name (checked against RootCAs, nil:
	// the system's roots); otherwise delivery is deferred.
	RequireTLS []string
	// Policies are MTA-STS and DANE, when configured.
	Policies       TLSPolicies
	RootCAs        *x509.CertPool
	Timeouts       Timeouts
	Dialer         Dialer // nil: a net.Dialer
	IdleTimeout    time.Duration
	MaxIdlePerHost int
	Logger         *slog.Logger
	Metrics        *Metrics

	once sync.Once
	c    *client
}

var _ Transport = (*Remote)(nil)

func (r *Remote) client() *client {
	r.once.Do(func() {
		r.c = newClient(RouteRemote, r.Hostname, r.Timeouts, r.Dialer, r.RootCAs, r.MaxIdlePerHost, r.IdleTimeout, r.Metrics)
	})
	return r.c
}

// newClient builds the SMTP client shared by the remote and smarthost
// transports; a nil dialer is a net.Dialer.
func newClient(route, hostname string, t Timeouts, d Dialer, roots *x509.CertPool, maxIdle int, idle time.Duration, m *Metrics) *client {
	var nd Dialer = &net.Dialer{}
	if d != nil {
		nd = d
	}
	return &client{
		route:   route,
		dialer:  &dialer{hostname: hostname, timeouts: t.withDefaults(), net: nd, rootCAs: roots},
		pool:    newPool(maxIdle, idle),
		metrics: m,
	}
}

// Close ends the idle connections.
func (r *Remote) Close() { r.client().pool.close() }

// Deliver sends req to the first MX host of its domain that answers.
func (r *Remote) Deliver(ctx context.Context, req *mailmsg.Attempt) []mailmsg.Result {
	if len(req.Recipients) == 0 {
		return nil
	}
	res, mta, tls := r.deliver(ctx, req)
	logResults(orDiscard(r.Logger), r.Metrics, RouteRemote, mta, tls, req, res)
	return res
}

func (r *Remote) deliver(ctx context.Context, req *mailmsg.Attempt) (res []mailmsg.Result, mta, tls string) {
	c := r.client()
	domain := mailmsg.Domain(req.Recipients[0].Addr)
	hosts, implicit, err := r.mxHosts(ctx, domain)
	if err != nil {
		return mailmsg.AllFail(req, err), "", ""
	}
	base := tlsOpportunistic
	if req.RequireTLS || slices.ContainsFunc(r.RequireTLS, func(d string) bool { return strings.EqualFold(d, domain) }) {
		base = tlsVerified
	}
	pol := r.policy(ctx, domain, base)
	var last error
	tries := 0
	for _, h := range hosts {
		hp, err := r.host(ctx, pol, h)
		if err != nil {
			last = err
			continue
		}
		addrs, err := r.addresses(ctx, h, implicit)
		if err != nil {
			last = err
			continue
		}
		for _, a := range addrs {
			if tries++; tries > maxAddresses {
				return mailmsg.AllFail(req, last), "", ""
			}
			t := target{addr: net.JoinHostPort(a, strconv.Itoa(r.port())), mta: h, mode: hp.mode, tlsa: hp.tlsa, names: hp.names}
			res, s, err := c.send(ctx, t, req)
			r.reportSession(hp, a, s, err)
			if err == nil {
				return res, h, policyLabel(hp, s)
			}
			last = err
		}
	}
	return mailmsg.AllFail(req, last), "", ""
}

// reportSession records a new connection under a policy for TLS-RPT:
// success, the required TLS that failed, or (testing mode) the
// verification that would have failed.
func (r *Remote) reportSession(hp hostPolicy, ip string, s sent, err error) {
	if hp.report == nil || s.reused {
		return
	}
	o := *hp.report
	o.ReceivingIP = ip
	var e *mailmsg.Error
	switch {
	case err != nil && errors.As(err, &e) && e.Command == mailmsg.CmdTLS:
		o.Result, o.Detail = tlsResultType(e.Err), e.Diagnostic()
	case err != nil:
		return // not a TLS matter: the host did not answer
	case s.verifyErr != nil:
		o.Result, o.Detail = tlsResultType(s.verifyErr), s.verifyErr.Error()
	}
	r.report(o)
}

// policyLabel is the delivery log's tls field: the policy that applied,
// or none when the message went in plain text.
func policyLabel(hp hostPolicy, s sent) string {
	if s.tls == tlsLabelNone {
		return PolicyNone
	}
	return hp.label
}

func (r *Remote) port() int {
	if r.Port == 0 {
		return 25
	}
	return r.Port
}

// mxHosts returns the hosts to try in order: MX by preference, shuffled
// among equals; the domain itself (implicit MX) when it has no MX.
func (r *Remote) mxHosts(ctx context.Context, domain string) ([]string, bool, error) {
	if domain == "" {
		return nil, false, permErr(mailmsg.CmdDNS, "", "5.1.3", "the recipient address has no domain", nil)
	}
	mxs, err := r.Resolver.LookupMX(ctx, domain)
	var de *net.DNSError
	switch {
	case err != nil && errors.As(err, &de) && de.IsNotFound:
		return []string{domain}, true, nil
	case err != nil:
		return nil, false, dnsErr("MX", domain, err)
	case len(mxs) == 1 && (mxs[0].Host == "." || mxs[0].Host == ""):
		e := permErr(mailmsg.CmdDNS, "", "5.1.10", domain+" publishes a null MX (RFC 7505): it accepts no mail", nil)
		e.Code = 556
		return nil, false, e
	}
	rand.Shuffle(len(mxs), func(i, j int) { mxs[i], mxs[j] = mxs[j], mxs[i] })
	slices.SortStableFunc(mxs, func(a, b *net.MX) int { return int(a.Pref) - int(b.Pref) })
	var hosts []string
	for _, mx := range mxs {
		if h := strings.TrimSuffix(mx.Host, "."); h != "" {
			hosts = append(hosts, h)
		}
	}
	return hosts, false, nil
}

// addresses resolves an MX host to IPv6 and IPv4 addresses. A name that
// does not exist fails permanently only for an implicit MX (the domain
// itself has no address); a broken MX name may be fixed, so it defers.
func (r *Remote) addresses(ctx context.Context, host string, implicit bool) ([]string, error) {
	if ip := net.ParseIP(host); ip != nil {
		return []string{host}, nil
	}
	ips, err := r.Resolver.LookupIPAddr(ctx, host)
	var de *net.DNSError
	if err != nil && errors.As(err, &de) && de.IsNotFound && implicit {
		return nil, permErr(mailmsg.CmdDNS, "", "5.1.2", host+" has no MX and no address record: the domain does not receive mail", err)
	}
	if err != nil {
		return nil, dnsErr("address", host, err)
	}
	out := make([]string, 0, len(ips))
	for _, ip := range ips {
		out = append(out, ip.IP.String())
	}
	if len(out) == 0 {
		return nil, tempErr(mailmsg.CmdDNS, host, "4.4.4", host+" has no address", nil)
	}
	return out, nil
}

func dnsErr(what, name string, err error) *mailmsg.Error {
	reason := what + " lookup for " + name + " failed"
	var de *net.DNSError
	switch {
	case errors.As(err, &de) && de.IsTimeout:
		reason += ": DNS timeout"
	case errors.As(err, &de) && de.IsNotFound:
		reason += ": no such host"
	case errors.As(err, &de):
		reason += ": DNS server failure"
	default:
		reason += ": " + err.Error()
	}
	return tempErr(mailmsg.CmdDNS, "", "4.4.3", reason, err)
}
