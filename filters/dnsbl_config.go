package filters

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"mailgate/config"
)

// DNSBLConfig is the dnsbl block: the connecting client looked up in DNS
// blocklists (RFC 5782). Each list that lists the client adds its weight
// to a score; the score against threshold gives the result.
type DNSBLConfig struct {
	Actions Actions     `yaml:"actions"`
	Lists   []DNSBLList `yaml:"lists"`
	// Threshold is the score at which the result is listed; a lower score
	// above 0 is suspect.
	Threshold int `yaml:"threshold"`
	// Skip are client networks never looked up (CIDRs or addresses):
	// your own relays, partners, the office.
	Skip    []string        `yaml:"skip"`
	Timeout config.Duration `yaml:"timeout"` // for all lookups of one check
}

// DNSBLList is one blocklist.
type DNSBLList struct {
	Zone string `yaml:"zone"`
	// Type is ip (the client's address, RFC 5782 section 2.1) or domain
	// (its HELO name and MAIL FROM domain, section 2.2); "" is ip.
	Type string `yaml:"type"`
	// Weight is added to the score when the list lists the client; nil
	// is 1. A pointer, so that a written 0 is told from no weight.
	Weight *int `yaml:"weight"`
	// Responses are the A answers that count as a listing: addresses,
	// CIDRs or ranges (127.0.0.2-127.0.0.11). Empty: any answer in
	// 127.0.0.0/8 but the error codes.
	Responses []string `yaml:"responses"`
}

var dnsblResults = map[string]string{"listed": ActionReject, "suspect": ActionTag,
	"clean": ActionAccept, "temperror": ActionAccept}

func defaultDNSBLConfig() *DNSBLConfig {
	return &DNSBLConfig{Threshold: 1, Timeout: config.Duration(5 * time.Second)}
}

// ActionMap returns the block's actions: key.
func (c *DNSBLConfig) ActionMap() Actions { return c.Actions }

// check wants the block complete once a listener runs dnsbl or the block
// is written; compile says what is wrong. A listener that runs dnsbl
// without a block is told at its filters list, where the mistake is.
func (c *DNSBLConfig) check(b *config.FilterBlock) {
	if b.Line == 0 {
		for _, use := range b.Listeners() {
			use.Errorf("dnsbl needs its blocklists; add filters.dnsbl.lists, such as - zone: zen.spamhaus.org")
		}
		return
	}
	positiveDuration(b, "timeout", c.Timeout)
	_, problems := c.compile()
	for _, p := range problems {
		b.Errorf(p.key, "%s", p.msg)
	}
}

// problem is a setting compile cannot use: its key in the block and what
// to write instead.
type problem struct{ key, msg string }

// dnsblRules is the block as the filter uses it: zones in lower case
// without the final dot, responses and networks parsed.
type dnsblRules struct {
	lists     []*dnsblList
	threshold int
	skip      []netip.Prefix
	timeout   time.Duration
}

// dnsblList is one compiled blocklist.
type dnsblList struct {
	zone      string
	domain    bool
	weight    int
	responses []addrRange // nil: any 127.0.0.0/8 answer that is not an error code
}

// compile turns the block into rules, with every problem found; check
// reports them at their lines, and the filter is built only from a block
// that has none.
func (c *DNSBLConfig) compile() (dnsblRules, []problem) {
	r := dnsblRules{threshold: c.Threshold, timeout: c.Timeout.D()}
	var probs []problem
	if len(c.Lists) == 0 {
		probs = append(probs, problem{"lists", "missing; list at least one blocklist, such as - zone: zen.spamhaus.org"})
	}
	seen := map[string]bool{}
	total := 0
	for i, l := range c.Lists {
		key := fmt.Sprintf("lists[%d]", i)
		list, ps := l.compile(key)
		probs = append(probs, ps...)
		if id := fmt.Sprint(list.zone, list.domain); list.zone != "" && seen[id] {
			probs = append(probs, problem{key + ".zone", list.zone + " is listed twice; list each blocklist once"})
		} else {
			seen[id] = true
		}
		total += list.weight
		r.lists = append(r.lists, list)
	}
	switch {
	case c.Threshold <= 0:
		probs = append(probs, problem{"threshold", fmt.Sprintf("%d is not more than 0; write a total weight such as 1", c.Threshold)})
	case len(probs) == 0 && c.Threshold > total:
		probs = append(probs, problem{"threshold", fmt.Sprintf("%d is more than the weights of all lists add up to (%d), so no client could be listed; write %d or less", c.Threshold, total, total)})
	}
	for i, s := range c.Skip {
		p, err := parseNetwork(s)
		if err != nil {
			probs = append(probs, problem{fmt.Sprintf("skip[%d]", i), fmt.Sprintf("%q is not a network; write a CIDR such as 10.0.0.0/8 or an address such as 192.0.2.25", s)})
			continue
		}
		r.skip = append(r.skip, p)
	}
	return r, probs
}

// compile checks one list; key is its path in the block (lists[N]).
func (l DNSBLList) compile(key string) (*dnsblList, []problem) {
	var probs []problem
	out := &dnsblList{zone: strings.ToLower(strings.TrimSuffix(l.Zone, ".")), weight: 1}
	switch {
	case l.Zone == "":
		probs = append(probs, problem{key + ".zone", "missing; write the blocklist's DNS zone, such as zen.spamhaus.org"})
	case !config.IsDomain(out.zone) || !strings.Contains(out.zone, "."):
		probs = append(probs, problem{key + ".zone", fmt.Sprintf("%q is not a DNS zone; write the blocklist's zone, such as zen.spamhaus.org", l.Zone)})
	}
	switch l.Type {
	case "", "ip":
	case "domain":
		out.domain = true
	default:
		probs = append(probs, problem{key + ".type", fmt.Sprintf("%q is not a list type; write ip (the client's address) or domain (its HELO name and MAIL FROM domain)", l.Type)})
	}
	if l.Weight != nil {
		out.weight = *l.Weight
		if out.weight <= 0 {
			probs = append(probs, problem{key + ".weight", "must be more than 0; write a weight such as 1"})
		}
	}
	for j, s := range l.Responses {
		r, err := parseAddrRange(s)
		if err != nil {
			probs = append(probs, problem{fmt.Sprintf("%s.responses[%d]", key, j), fmt.Sprintf("%q is not an IPv4 address, CIDR or range; write one such as 127.0.0.2, 127.0.0.0/24 or 127.0.0.2-127.0.0.11", s)})
			continue
		}
		out.responses = append(out.responses, r)
	}
	return out, probs
}

// addrRange is an inclusive range of IPv4 addresses.
type addrRange struct{ lo, hi netip.Addr }

func (r addrRange) contains(a netip.Addr) bool { return r.lo.Compare(a) <= 0 && a.Compare(r.hi) <= 0 }

// parseAddrRange reads an IPv4 address, CIDR or range lo-hi.
func parseAddrRange(s string) (addrRange, error) {
	s = strings.TrimSpace(s)
	if lo, hi, ok := strings.Cut(s, "-"); ok {
		a, err1 := parseIPv4(lo)
		b, err2 := parseIPv4(hi)
		if err1 != nil || err2 != nil || b.Less(a) {
			return addrRange{}, fmt.Errorf("bad range %q", s)
		}
		return addrRange{a, b}, nil
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil || !p.Addr().Is4() {
			return addrRange{}, fmt.Errorf("bad IPv4 CIDR %q", s)
		}
		return addrRange{p.Masked().Addr(), lastAddr(p)}, nil
	}
	a, err := parseIPv4(s)
	return addrRange{a, a}, err
}

func parseIPv4(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil || !a.Is4() {
		return netip.Addr{}, fmt.Errorf("not an IPv4 address: %q", s)
	}
	return a, nil
}

// lastAddr is the highest IPv4 address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	for i := range b {
		if bits := p.Bits() - 8*i; bits < 8 {
			b[i] |= byte(0xff >> max(bits, 0))
		}
	}
	return netip.AddrFrom4(b)
}

// parseNetwork reads a CIDR or a single address (IPv4 or IPv6).
func parseNetwork(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}
