package filters

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/miekg/dns"

	"mailgate/config"
	"mailgate/internal/mailmsg"
	"mailgate/resolver"
)

// dnsblFilter looks the client up in DNS blocklists (RFC 5782): its IP
// address in ip lists, its HELO name and MAIL FROM domain in domain
// lists. Each list that lists it adds its weight to a score: listed at
// the threshold, suspect below it, temperror when nothing was found but a
// list could not be asked, else clean.
//
// When it looks up, and when it decides: the chain's first view of a
// session is Begin, which the relay calls at the client's first EHLO or
// HELO, with its address and HELO name. (The Admitter stage, before the
// greeting, has no session to hand answers to.) So Begin starts the
// address and HELO lookups in the background, and CheckMail, at MAIL
// FROM, adds the sender's domain and decides, waiting for what is still
// in flight up to the timeout. The client's EHLO, STARTTLS and second
// EHLO usually hide the lookups, and the refusal and its log line come
// with the sender, as Postfix's reject_rbl_client at RCPT does
// (postscreen starts earlier, at connect, but rejects nothing before
// the sender is known either). On a submission listener Begin starts
// nothing: its clients log in, and logged-in sessions are not checked.
//
// Lookups live in a cache shared by the filter's sessions (dnsblCache),
// so the session STARTTLS starts, the client's next connection and
// concurrent ones ask DNS once.
type dnsblFilter struct {
	rules   dnsblRules
	res     resolver.Resolver
	log     *slog.Logger
	metrics *Metrics
	cache   *dnsblCache
}

// dnsblCacheSize and dnsblCacheTTL bound the lookups kept: about 500
// bytes each with a reason (measured with runtime.MemStats), so at most
// about 5 MB, and a client taken off a list is let in within a minute. A failure is kept dnsblFailTTL: long enough that
// the session whose Begin saw it does not wait for the timeout again at
// MAIL FROM, short enough that the list is asked again soon.
const (
	dnsblCacheSize = 10000
	dnsblCacheTTL  = time.Minute
	dnsblFailTTL   = 10 * time.Second
)

func newDNSBL(c *DNSBLConfig, _ *config.Config, deps Deps) (*dnsblFilter, error) {
	rules, probs := c.compile()
	if len(probs) > 0 {
		return nil, fmt.Errorf("filters.dnsbl.%s: %s", probs[0].key, probs[0].msg)
	}
	return &dnsblFilter{rules: rules, res: deps.Resolver, log: deps.Logger, metrics: deps.Metrics,
		cache: newDNSBLCache(dnsblCacheSize, dnsblCacheTTL, dnsblFailTTL, deps.Now)}, nil
}

func (f *dnsblFilter) Name() string { return "dnsbl" }
func (f *dnsblFilter) Close()       {}

// Begin starts the lookups the session will need at MAIL FROM (see the
// type's comment); the session's state is the filter's cache.
func (f *dnsblFilter) Begin(conn *Conn) Session {
	if !conn.Submission && f.checked(conn) {
		for _, q := range f.queries(conn, "", false) {
			f.start(q)
		}
	}
	return f
}

// checked reports whether the client is looked up at all: it must have
// an IP address (not a Unix socket), not be logged in, and not be in a
// skip network.
func (f *dnsblFilter) checked(conn *Conn) bool {
	if conn.Account != "" || conn.IP == nil {
		return false
	}
	ip := clientAddr(conn)
	for _, p := range f.rules.skip {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// CheckMail decides, from every list's answer for the client address,
// the HELO name and the MAIL FROM domain.
func (f *dnsblFilter) CheckMail(ctx context.Context, st *State) Verdict {
	if !f.checked(st.Conn) {
		return Verdict{}
	}
	qs := f.queries(st.Conn, st.From, true)
	for i := range qs {
		qs[i].lookup = f.start(qs[i])
	}
	var o dnsblOutcome
	for _, q := range qs {
		a := q.lookup.wait(ctx)
		if ctx.Err() != nil {
			return Verdict{} // the session ended: nothing to decide, nothing to log
		}
		if a.state == dnsblFailed {
			f.log.Warn("dnsbl lookup failed", "session", st.Conn.SessionID, "zone", q.list.zone,
				"query", q.name, "err", mailmsg.Clean(a.err))
		}
		o.add(q, a)
	}
	return o.verdict(f.rules.threshold, st)
}

// dnsblQuery is one name to look up in one list, and what it stands for
// in a reply ("client [192.0.2.1]", "sender domain example.com").
type dnsblQuery struct {
	list    *dnsblList
	name    string // fully qualified, with the final dot
	subject string
	lookup  *dnsblLookup
}

// queries are the names to look up for conn: the client address in ip
// lists; in domain lists the HELO name, and the MAIL FROM domain once
// withFrom (from is "" for the null sender).
func (f *dnsblFilter) queries(conn *Conn, from string, withFrom bool) []dnsblQuery {
	ip := clientAddr(conn)
	var qs []dnsblQuery
	for _, l := range f.rules.lists {
		if !l.domain {
			qs = append(qs, dnsblQuery{list: l, name: reversed(ip) + l.zone + ".", subject: "client [" + ip.String() + "]"})
			continue
		}
		helo := lookupDomain(conn.Helo, l.zone)
		if helo != "" {
			qs = append(qs, dnsblQuery{list: l, name: helo + "." + l.zone + ".", subject: "HELO name " + helo})
		}
		if d := lookupDomain(mailmsg.Domain(from), l.zone); withFrom && d != "" && d != helo {
			qs = append(qs, dnsblQuery{list: l, name: d + "." + l.zone + ".", subject: "sender domain " + d})
		}
	}
	return qs
}

// clientAddr is conn's IP address, an IPv4-mapped one as IPv4.
func clientAddr(conn *Conn) netip.Addr {
	a, _ := netip.AddrFromSlice(conn.IP)
	return a.Unmap()
}

// reversed is ip as a DNSBL query names it, with a final dot: IPv4 octets
// in reverse order (RFC 5782 section 2.1), IPv6 nibbles in reverse order
// (section 2.4); the reverse-DNS name without its arpa zone.
func reversed(ip netip.Addr) string {
	r, _ := dns.ReverseAddr(ip.String())
	return strings.TrimSuffix(strings.TrimSuffix(r, "in-addr.arpa."), "ip6.arpa.")
}

// lookupDomain is name as a domain list is asked about it, or "" when it
// is not a domain name with a dot (an address literal, an IP, a bare
// host name, an internationalised name in UTF-8) or too long to put in
// front of zone.
func lookupDomain(name, zone string) string {
	d := strings.ToLower(strings.TrimSuffix(name, "."))
	if _, err := netip.ParseAddr(d); err == nil || !strings.Contains(d, ".") || !config.IsDomain(d) || len(d)+1+len(zone) > 253 {
		return ""
	}
	return d
}

// dnsblOutcome adds up the lists' answers of one check.
type dnsblOutcome struct {
	score  int
	best   *dnsblHit // the heaviest list that listed the client, first in the config on a tie
	listed map[*dnsblList]bool
	notes  []string // for the log
	failed bool
}

// dnsblHit is a listing, for the reply.
type dnsblHit struct {
	weight                int
	subject, zone, reason string
}

// add counts answer a to query q; a list's weight counts once, whichever
// of its names it lists.
func (o *dnsblOutcome) add(q dnsblQuery, a dnsblAnswer) {
	switch a.state {
	case dnsblFailed:
		o.failed = true
		o.notes = append(o.notes, q.list.zone+" failed")
	case dnsblListed:
		if o.listed[q.list] {
			return
		}
		if o.listed == nil {
			o.listed = map[*dnsblList]bool{}
		}
		o.listed[q.list] = true
		o.score += q.list.weight
		o.notes = append(o.notes, fmt.Sprintf("%s listed by %s (%s, weight %d)", q.subject, q.list.zone, joinAddrs(a.addrs), q.list.weight))
		if o.best == nil || q.list.weight > o.best.weight {
			o.best = &dnsblHit{weight: q.list.weight, subject: q.subject, zone: q.list.zone, reason: a.reason}
		}
	}
}

// verdict is the result of the check: listed, suspect, temperror or
// clean, in that order of precedence (a listing found is reported even
// when another list could not be asked).
func (o *dnsblOutcome) verdict(threshold int, st *State) Verdict {
	reason := fmt.Sprintf("score %d of %d; sender <%s>", o.score, threshold, st.From)
	if len(o.notes) > 0 {
		reason += "; " + strings.Join(o.notes, "; ")
	}
	switch {
	case o.score >= threshold:
		return Verdict{Result: "listed", Reply: dnsblReply(o.best), Reason: reason}
	case o.score > 0:
		return Verdict{Result: "suspect", Reply: dnsblReply(o.best), Reason: reason}
	case o.failed:
		return Verdict{Result: "temperror", Reason: reason, Reply: &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 1},
			Message: "Blocklist check of your address failed temporarily; try again later"}}
	}
	return Verdict{Result: "clean", Reason: reason}
}

// dnsblReply is Postfix's reply to a listed client, naming the list and
// its reason (a TXT record, already made safe by txtReason).
func dnsblReply(h *dnsblHit) *smtp.SMTPError {
	msg := "Service unavailable; " + h.subject + " listed by " + h.zone
	if h.reason != "" {
		msg += ": " + h.reason
	}
	return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: msg}
}

func joinAddrs(addrs []netip.Addr) string {
	s := make([]string, len(addrs))
	for i, a := range addrs {
		s[i] = a.String()
	}
	return strings.Join(s, ",")
}

// start returns the lookup of q, from the cache or a new one in the
// background, bounded by the timeout from now.
func (f *dnsblFilter) start(q dnsblQuery) *dnsblLookup {
	return f.cache.get(q.name, func() *dnsblLookup {
		ctx, cancel := context.WithTimeout(context.Background(), f.rules.timeout)
		l := &dnsblLookup{ctx: ctx, done: make(chan struct{})}
		go func() {
			defer cancel()
			l.ans = f.query(ctx, q.list, q.name)
			f.metrics.dnsblLookups.WithLabelValues(q.list.zone, l.ans.state.String()).Inc()
			f.cache.done(q.name, l) // before done: a waiter that sees it sees the cache updated
			close(l.done)
		}()
		return l
	})
}

// query asks list about name: its A records, and the TXT record for the
// reason when they say listed.
func (f *dnsblFilter) query(ctx context.Context, list *dnsblList, name string) dnsblAnswer {
	addrs, err := f.lookupA(ctx, name)
	var de *net.DNSError
	if errors.As(err, &de) && de.IsNotFound {
		return dnsblAnswer{state: dnsblClean}
	}
	if err != nil {
		return dnsblAnswer{state: dnsblFailed, err: err.Error()}
	}
	a := list.classify(addrs)
	if a.state == dnsblListed {
		if txt, err := f.res.LookupTXT(ctx, name); err == nil {
			a.reason = txtReason(txt)
		}
	}
	return a
}

// ipv4Resolver is the A-only lookup *net.Resolver has beyond
// resolver.Resolver: a blocklist answers with A records only (RFC 5782
// section 2.1, also for IPv6 clients), so asking AAAA as well would
// double the queries for nothing.
type ipv4Resolver interface {
	LookupIP(ctx context.Context, network, host string) ([]net.IP, error)
}

// lookupA returns name's IPv4 addresses.
func (f *dnsblFilter) lookupA(ctx context.Context, name string) ([]netip.Addr, error) {
	var ips []net.IP
	if r, ok := f.res.(ipv4Resolver); ok {
		var err error
		if ips, err = r.LookupIP(ctx, "ip4", name); err != nil {
			return nil, err
		}
	} else {
		ias, err := f.res.LookupIPAddr(ctx, name)
		if err != nil {
			return nil, err
		}
		for _, ia := range ias {
			ips = append(ips, ia.IP)
		}
	}
	var out []netip.Addr
	for _, ip := range ips {
		if a, ok := netip.AddrFromSlice(ip); ok && a.Unmap().Is4() {
			out = append(out, a.Unmap())
		}
	}
	return out, nil
}

// dnsblState is what one answer says about one list.
type dnsblState int

const (
	dnsblClean dnsblState = iota
	dnsblListed
	dnsblFailed
)

// String is the state as the lookups metric labels it.
func (s dnsblState) String() string {
	return [...]string{"clean", "listed", "error"}[s]
}

// dnsblAnswer is one list's answer for one name.
type dnsblAnswer struct {
	state  dnsblState
	addrs  []netip.Addr // the A records, for the log
	reason string       // listed: the TXT reason, made safe
	err    string       // failed: why
}

// classify reads a list's A records. An error code is not a listing: a
// list answers 127.0.0.1 or 127.255.255.252-255 when it refuses to
// answer (Spamhaus: .252 a typo in the zone, .254 a query through a
// public resolver, .255 too many queries), and an answer outside
// 127.0.0.0/8 (RFC 5782 section 2.3) is a resolver that rewrites
// NXDOMAIN or a list that has shut down by listing everything. Either
// makes the list fail for this query, so that the operator is told.
func (l *dnsblList) classify(addrs []netip.Addr) dnsblAnswer {
	a := dnsblAnswer{state: dnsblClean, addrs: addrs}
	for _, ip := range addrs {
		b := ip.As4()
		switch {
		case b == [4]byte{127, 0, 0, 1} || b[0] == 127 && b[1] == 255 && b[2] == 255 && b[3] >= 252:
			return dnsblAnswer{state: dnsblFailed, addrs: addrs, err: "the list answered " + ip.String() +
				", an error code, not a listing: it refuses the query (Spamhaus: .252 typo in the zone, .254 query through a public resolver, .255 too many queries); query through your own resolver, or the list's DQS zone"}
		case b[0] != 127:
			return dnsblAnswer{state: dnsblFailed, addrs: addrs, err: "the list answered " + ip.String() +
				", outside 127.0.0.0/8 (RFC 5782 section 2.3): a resolver that rewrites NXDOMAIN, or a list that lists everything"}
		}
		if l.counts(ip) {
			a.state = dnsblListed
		}
	}
	return a
}

// counts reports whether ip, a 127.0.0.0/8 answer, is one the list's
// responses count.
func (l *dnsblList) counts(ip netip.Addr) bool {
	if l.responses == nil {
		return true
	}
	for _, r := range l.responses {
		if r.contains(ip) {
			return true
		}
	}
	return false
}

// maxReason caps a TXT reason in a reply.
const maxReason = 200

// txtReason makes a list's TXT records fit for an SMTP reply. The text
// comes from whoever controls the zone, so only printable ASCII is kept
// (a CR or LF would start a reply line of its own, and a client may see
// any other control character), every run of anything else becomes one
// space, and it is cut at maxReason bytes.
func txtReason(txts []string) string {
	var b strings.Builder
	gap := false
	for _, c := range []byte(strings.Join(txts, "; ")) {
		if b.Len() > maxReason {
			break
		}
		if c <= ' ' || c >= 0x7f {
			gap = b.Len() > 0
			continue
		}
		if gap {
			b.WriteByte(' ')
			gap = false
		}
		b.WriteByte(c)
	}
	s := b.String()
	if len(s) > maxReason {
		s = strings.TrimRight(s[:maxReason], " ")
	}
	return s
}
