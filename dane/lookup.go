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

// HostAnswer is what DNSSEC says about one MX host's addresses.
type HostAnswer struct {
	// Secure: every address answer (and the CNAMEs leading to it) was
	// validated. DANE applies only then (RFC 7672 §2.2.2): an attacker
	// who can forge an insecure address can also steer the TLSA lookup.
	Secure bool
	// Names are the TLSA base domains in the order RFC 7672 §2.2.2 tries
	// them: the CNAME-expanded name first (when the MX host is an alias),
	// then the MX host name. They are also the reference identifiers a
	// DANE-TA certificate may match (RFC 7672 §3.2.2).
	Names []string
}

// maxCNAMEs bounds how far Host follows an alias chain in one answer.
const maxCNAMEs = 8

// Host looks up the MX host's A and AAAA records to learn whether they
// are DNSSEC-validated and whether the name is an alias. An error (such
// as SERVFAIL for a bogus signature) means the host must be skipped.
func (r *Resolver) Host(ctx context.Context, host string) (HostAnswer, error) {
	name := dns.Fqdn(strings.ToLower(host))
	ha := HostAnswer{Secure: true, Names: []string{strings.TrimSuffix(name, ".")}}
	found := false
	for _, qtype := range []uint16{dns.TypeA, dns.TypeAAAA} {
		m, err := r.query(ctx, name, qtype)
		if err != nil {
			return HostAnswer{}, err
		}
		target, n := expand(m, name)
		if n == 0 {
			continue
		}
		found = true
		ha.Secure = ha.Secure && m.AuthenticatedData
		if target != name && len(ha.Names) == 1 {
			ha.Names = []string{strings.TrimSuffix(target, "."), ha.Names[0]}
		}
	}
	ha.Secure = ha.Secure && found
	if !ha.Secure {
		ha.Names = ha.Names[len(ha.Names)-1:] // an insecure alias is no base domain
	}
	return ha, nil
}

// expand follows the CNAME chain from name through m's answer and
// counts the address records at its end.
func expand(m *dns.Msg, name string) (string, int) {
	for i := 0; i < maxCNAMEs; i++ {
		next := ""
		for _, rr := range m.Answer {
			if c, ok := rr.(*dns.CNAME); ok && strings.EqualFold(c.Hdr.Name, name) {
				next = strings.ToLower(dns.Fqdn(c.Target))
			}
		}
		if next == "" {
			break
		}
		name = next
	}
	n := 0
	for _, rr := range m.Answer {
		t := rr.Header().Rrtype
		if (t == dns.TypeA || t == dns.TypeAAAA) && strings.EqualFold(rr.Header().Name, name) {
			n++
		}
	}
	return name, n
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
