package dane

import (
	"context"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Resolver asks a validating resolver (unbound, or any that sets the AD
// bit only for DNSSEC-validated answers) over UDP, then TCP when the
// answer is truncated. The link to that resolver must be trusted
// (loopback), as RFC 7672 §1.3 assumes.
type Resolver struct {
	Server  string // host:port
	Timeout time.Duration
}

// Answer is a lookup's records and whether the resolver vouched for them.
type Answer struct {
	TLSA   []TLSA
	Secure bool // the AD bit: DNSSEC-validated, or validated as absent
	Exists bool // the name had records of the type asked
}

// TLSA looks up _PORT._tcp.HOST. An error means the lookup failed
// (SERVFAIL, timeout), which for a secure MX means the host must be
// skipped rather than used without DANE (RFC 7672 §2.2.2).
func (r *Resolver) TLSA(ctx context.Context, host string, port int) (Answer, error) {
	name := "_" + strconv.Itoa(port) + "._tcp." + dns.Fqdn(host)
	m, err := r.query(ctx, name, dns.TypeTLSA)
	if err != nil {
		return Answer{}, err
	}
	a := Answer{Secure: m.AuthenticatedData}
	for _, rr := range m.Answer {
		if t, ok := rr.(*dns.TLSA); ok {
			data, err := hexData(t.Certificate)
			if err != nil {
				continue // a record we cannot read cannot match
			}
			a.TLSA = append(a.TLSA, TLSA{t.Usage, t.Selector, t.MatchingType, data})
			a.Exists = true
		}
	}
	return a, nil
}

// SecureMX tells whether the resolver validated the domain's MX answer
// (or its absence): DANE applies only to MX hosts named securely
// (RFC 7672 §2.2.1).
func (r *Resolver) SecureMX(ctx context.Context, domain string) (bool, error) {
	m, err := r.query(ctx, dns.Fqdn(domain), dns.TypeMX)
	if err != nil {
		return false, err
	}
	return m.AuthenticatedData, nil
}

func (r *Resolver) query(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	q := new(dns.Msg)
	q.SetQuestion(strings.ToLower(name), qtype)
	q.AuthenticatedData = true // RFC 6840 §5.7: ask for the AD bit
	q.SetEdns0(4096, true)
	timeout := r.Timeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	c := &dns.Client{Timeout: timeout}
	m, _, err := c.ExchangeContext(ctx, q, r.Server)
	if err == nil && m.Truncated {
		c.Net = "tcp"
		m, _, err = c.ExchangeContext(ctx, q, r.Server)
	}
	if err != nil {
		return nil, fmt.Errorf("%s lookup of %s: %w", dns.TypeToString[qtype], name, err)
	}
	switch m.Rcode {
	case dns.RcodeSuccess, dns.RcodeNameError:
		return m, nil
	}
	return nil, fmt.Errorf("%s lookup of %s: %s", dns.TypeToString[qtype], name, dns.RcodeToString[m.Rcode])
}

func hexData(s string) ([]byte, error) { return hex.DecodeString(s) }
