package filters

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"mailgate/internal/dnstest"
	"mailgate/resolver"
)

// dnsblResolver is the in-memory resolver plus a record of the A queries
// asked, and a switch that makes them hang until the caller gives up
// (hang: until ctx ends; deaf: until the test ends, ignoring ctx).
type dnsblResolver struct {
	*memResolver
	mu    sync.Mutex
	asked []string
	hang  bool
	deaf  chan struct{}
}

func newDNSBLResolver() *dnsblResolver { return &dnsblResolver{memResolver: newMemResolver()} }

func (r *dnsblResolver) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	r.mu.Lock()
	r.asked = append(r.asked, host)
	hang, deaf := r.hang, r.deaf
	r.mu.Unlock()
	switch {
	case deaf != nil:
		<-deaf
	case hang:
		<-ctx.Done()
		return nil, &net.DNSError{Err: "i/o timeout", Name: host, IsTimeout: true, IsTemporary: true}
	}
	return r.memResolver.LookupIPAddr(ctx, host)
}

func (r *dnsblResolver) queries() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.asked...)
}

// dnsblEnv is a chain running dnsbl alone, on that resolver, with its log
// and metrics kept for the test.
type dnsblEnv struct {
	res *dnsblResolver
	ch  *Chain
	log *bytes.Buffer
	reg *prometheus.Registry
	now atomic.Int64 // the clock, in Unix seconds
}

// newDNSBLEnv builds the chain from a dnsbl block (indented under
// "filters:\n  dnsbl:\n").
func newDNSBLEnv(t *testing.T, block string) *dnsblEnv {
	t.Helper()
	e := &dnsblEnv{res: newDNSBLResolver(), log: &bytes.Buffer{}, reg: prometheus.NewRegistry()}
	e.now.Store(1_800_000_000)
	cfg := testConfig(t, []string{"dnsbl"}, "filters:\n  dnsbl:\n"+block)
	e.ch = newChain(t, cfg, Deps{Resolver: e.res, Registerer: e.reg, Now: func() time.Time { return time.Unix(e.now.Load(), 0) },
		Logger: slog.New(slog.NewTextHandler(e.log, nil))}) // only CheckMail logs, on the test's goroutine
	return e
}

// send runs one transaction from ip with HELO helo and returns the reply
// ("" when accepted) and the message's X-Mailgate-Verdict field, if any.
func (e *dnsblEnv) send(t *testing.T, ip, helo, from string) (reply, verdict string) {
	t.Helper()
	conn := &Conn{SessionID: "s1", Listener: "test", IP: net.ParseIP(ip), Helo: helo}
	reply, msg := transact(t, e.ch, conn, from, []string{"bob@mx.example.org"}, inbound)
	if msg != nil {
		for _, line := range strings.Split(final(msg), "\r\n") {
			if v, ok := strings.CutPrefix(line, "X-Mailgate-Verdict: "); ok {
				verdict = v
			}
		}
	}
	return reply, verdict
}

func (e *dnsblEnv) lookups(t *testing.T, zone, result string) float64 {
	t.Helper()
	return metricValue(t, e.reg, "mailgate_filters_dnsbl_lookups_total", "zone", zone, "result", result)
}

const oneList = "    lists:\n      - zone: bl.test\n"

// TestDNSBLQueryNames: IPv4 octets and IPv6 nibbles reversed in front of
// the zone (RFC 5782 sections 2.1 and 2.4, whose examples these are), an
// IPv4-mapped client asked as IPv4.
func TestDNSBLQueryNames(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ ip, want string }{
		{"192.0.2.99", "99.2.0.192."},
		{"::ffff:192.0.2.99", "99.2.0.192."},
		{"2001:db8:1:2:3:4:567:89ab", "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2."},
	} {
		if got := reversed(netip.MustParseAddr(tc.ip).Unmap()); got != tc.want {
			t.Errorf("reversed(%s) = %q, want %q", tc.ip, got, tc.want)
		}
	}
	e := newDNSBLEnv(t, oneList)
	e.res.addr("99.2.0.192.bl.test", "127.0.0.2")
	e.res.addr("b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.bl.test", "127.0.0.2")
	for _, ip := range []string{"192.0.2.99", "2001:db8:1:2:3:4:567:89ab"} {
		want := "554 5.7.1 Service unavailable; client [" + ip + "] listed by bl.test"
		if reply, _ := e.send(t, ip, "mail.example.com", "a@example.com"); reply != want {
			t.Errorf("%s: reply %q, want %q", ip, reply, want)
		}
	}
	// Names are rooted (no resolv.conf search domain is tried) and asked once.
	if got := strings.Join(e.res.queries(), " "); got != "99.2.0.192.bl.test. b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.bl.test." {
		t.Errorf("queries: %s", got)
	}
}

// TestDNSBLWeights: each list that lists the client adds its weight; the
// total against the threshold gives listed (reject), suspect (tag) or
// clean (accept). The reply names the heaviest list with its TXT reason.
func TestDNSBLWeights(t *testing.T) {
	t.Parallel()
	e := newDNSBLEnv(t, "    lists:\n      - {zone: light.test}\n      - {zone: heavy.test, weight: 2}\n      - {zone: other.test}\n    threshold: 3\n")
	// 192.0.2.1 in all three (4), .2 in heavy and other (3), .3 in heavy
	// (2), .4 in light (1), .5 in none.
	for _, l := range []struct{ zone, ips string }{{"light.test", "1 4"}, {"heavy.test", "1 2 3"}, {"other.test", "1 2"}} {
		for _, last := range strings.Fields(l.ips) {
			name := last + ".2.0.192." + l.zone
			e.res.addr(name, "127.0.0.2")
			e.res.txt(name, []string{"Listed by " + l.zone + ", see https://" + l.zone + "/q/192.0.2." + last})
		}
	}
	cases := []struct{ ip, reply, verdict string }{
		{"192.0.2.1", "554 5.7.1 Service unavailable; client [192.0.2.1] listed by heavy.test: Listed by heavy.test, see https://heavy.test/q/192.0.2.1", ""},
		{"192.0.2.2", "554 5.7.1 Service unavailable; client [192.0.2.2] listed by heavy.test: Listed by heavy.test, see https://heavy.test/q/192.0.2.2", ""},
		{"192.0.2.3", "", "dnsbl=suspect"},
		{"192.0.2.4", "", "dnsbl=suspect"},
		{"192.0.2.5", "", ""},
	}
	for _, tc := range cases {
		reply, verdict := e.send(t, tc.ip, "mail.example.com", "a@example.com")
		if reply != tc.reply || verdict != tc.verdict {
			t.Errorf("%s: reply %q, tag %q; want %q, %q", tc.ip, reply, verdict, tc.reply, tc.verdict)
		}
	}
	if got := e.lookups(t, "heavy.test", "listed"); got != 3 {
		t.Errorf("heavy.test listed lookups = %v, want 3", got)
	}
	if got := e.lookups(t, "light.test", "clean"); got != 3 {
		t.Errorf("light.test clean lookups = %v, want 3", got)
	}
	for _, rc := range []struct {
		result, action string
		want           float64
	}{{"listed", "reject", 2}, {"suspect", "tag", 2}, {"clean", "accept", 1}} {
		if got := counter(t, e.reg, "dnsbl", rc.result, rc.action); got != rc.want {
			t.Errorf("verdicts dnsbl/%s/%s = %v, want %v", rc.result, rc.action, got, rc.want)
		}
	}
	if !strings.Contains(e.log.String(), `reason="score 4 of 3; sender <a@example.com>; client [192.0.2.1] listed by light.test (127.0.0.2, weight 1);`) {
		t.Errorf("the refusal's log line lacks the score, sender and lists:\n%s", e.log)
	}
}

// TestDNSBLResponses: only the configured answers count; others in
// 127.0.0.0/8 are no listing.
func TestDNSBLResponses(t *testing.T) {
	t.Parallel()
	e := newDNSBLEnv(t, "    lists:\n      - zone: bl.test\n        responses: [127.0.0.2-127.0.0.3, 127.0.0.10/31, 127.0.0.20]\n")
	for last, answer := range map[int]string{1: "127.0.0.2", 2: "127.0.0.3", 3: "127.0.0.4", 4: "127.0.0.11", 5: "127.0.0.12", 6: "127.0.0.20", 7: "127.0.1.20"} {
		e.res.addr(fmt.Sprintf("%d.2.0.192.bl.test", last), answer)
	}
	e.res.addr("8.2.0.192.bl.test", "127.0.0.9")
	e.res.addr("8.2.0.192.bl.test", "127.0.0.10")
	listed := map[string]bool{"192.0.2.1": true, "192.0.2.2": true, "192.0.2.4": true, "192.0.2.6": true, "192.0.2.8": true}
	for i := 1; i <= 8; i++ {
		ip := fmt.Sprintf("192.0.2.%d", i)
		reply, _ := e.send(t, ip, "mail.example.com", "a@example.com")
		if got := strings.HasPrefix(reply, "554 5.7.1 "); got != listed[ip] {
			t.Errorf("%s: reply %q, want listed %v", ip, reply, listed[ip])
		}
	}
}

// TestDNSBLErrorCodes: 127.0.0.1, 127.255.255.252-255 and answers outside
// 127.0.0.0/8 are no listing: temperror for that list (accepted by
// default), with a warning naming the zone and the answer.
func TestDNSBLErrorCodes(t *testing.T) {
	t.Parallel()
	for _, answer := range []string{"127.0.0.1", "127.255.255.252", "127.255.255.253", "127.255.255.254", "127.255.255.255", "192.0.2.77"} {
		t.Run(answer, func(t *testing.T) {
			t.Parallel()
			e := newDNSBLEnv(t, oneList)
			e.res.addr("1.2.0.192.bl.test", answer)
			e.res.txt("1.2.0.192.bl.test", []string{"must not be shown"})
			if reply, verdict := e.send(t, "192.0.2.1", "mail.example.com", "a@example.com"); reply != "" || verdict != "" {
				t.Fatalf("reply %q, tag %q; want accepted untagged", reply, verdict)
			}
			log := e.log.String()
			if !strings.Contains(log, "level=WARN") || !strings.Contains(log, "zone=bl.test") || !strings.Contains(log, "the list answered "+answer) {
				t.Errorf("no warning naming the zone and the answer:\n%s", log)
			}
			if counter(t, e.reg, "dnsbl", "temperror", "accept") != 1 || e.lookups(t, "bl.test", "error") != 1 {
				t.Errorf("not counted as temperror / error: %v %v\n%s", counter(t, e.reg, "dnsbl", "temperror", "accept"), e.lookups(t, "bl.test", "error"), e.log)
			}
		})
	}
	// temperror set to tempfail answers 451, without internals.
	e := newDNSBLEnv(t, oneList+"    actions: {temperror: tempfail}\n")
	e.res.addr("1.2.0.192.bl.test", "127.255.255.254")
	if reply, _ := e.send(t, "192.0.2.1", "mail.example.com", "a@example.com"); reply != "451 4.7.1 Blocklist check of your address failed temporarily; try again later" {
		t.Errorf("temperror as tempfail: %q", reply)
	}
}

// TestDNSBLLookupFailures: SERVFAIL, a timeout error, a resolver that
// hangs until the deadline and one that ignores it all give temperror
// within the timeout; another list's listing still counts.
func TestDNSBLLookupFailures(t *testing.T) {
	t.Parallel()
	block := "    lists:\n      - zone: bl.test\n      - zone: ok.test\n    threshold: 2\n    timeout: 200ms\n"
	t.Run("servfail and timeout", func(t *testing.T) {
		t.Parallel()
		e := newDNSBLEnv(t, block)
		e.res.servfail("1.2.0.192.bl.test")
		e.res.timeout("2.2.0.192.bl.test")
		e.res.addr("2.2.0.192.ok.test", "127.0.0.2")
		if reply, verdict := e.send(t, "192.0.2.1", "mail.example.com", "a@example.com"); reply != "" || verdict != "" {
			t.Errorf("servfail: reply %q, tag %q", reply, verdict)
		}
		if reply, verdict := e.send(t, "192.0.2.2", "mail.example.com", "a@example.com"); reply != "" || verdict != "dnsbl=suspect" {
			t.Errorf("a timeout beside a listing: reply %q, tag %q; want suspect", reply, verdict)
		}
		if got := e.lookups(t, "bl.test", "error"); got != 2 {
			t.Errorf("bl.test errors = %v, want 2", got)
		}
		if n := strings.Count(e.log.String(), `msg="dnsbl lookup failed"`); n != 2 {
			t.Errorf("%d failure lines, want 2:\n%s", n, e.log)
		}
	})
	for _, mode := range []string{"hang", "deaf"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			e := newDNSBLEnv(t, block)
			if mode == "hang" {
				e.res.hang = true
			} else {
				e.res.deaf = make(chan struct{})
				t.Cleanup(func() { close(e.res.deaf) })
			}
			start := time.Now()
			if reply, verdict := e.send(t, "192.0.2.1", "mail.example.com", "a@example.com"); reply != "" || verdict != "" {
				t.Errorf("reply %q, tag %q; want accepted", reply, verdict)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("took %v with a 200ms timeout", d)
			}
			if counter(t, e.reg, "dnsbl", "temperror", "accept") != 1 {
				t.Errorf("not temperror:\n%s", e.log)
			}
		})
	}
}

// TestDNSBLReasonSanitized: a TXT record is someone else's text in our
// reply: no CR/LF (no forged reply lines), no control or non-ASCII bytes,
// spaces folded, at most 200 bytes.
func TestDNSBLReasonSanitized(t *testing.T) {
	t.Parallel()
	cases := []struct {
		txt  []string
		want string
	}{
		{[]string{"Listed\r\n250 2.0.0 OK\r\n"}, "Listed 250 2.0.0 OK"},
		{[]string{"a\x00b\x1b[31mc\x7fd\tE"}, "a b [31mc d E"},
		{[]string{"caf\xc3\xa9 \xff list"}, "caf list"},
		{[]string{"  one", "two  "}, "one; two"},
		{[]string{strings.Repeat("x", 150) + "\n" + strings.Repeat("y", 300)}, strings.Repeat("x", 150) + " " + strings.Repeat("y", 49)},
		{[]string{strings.Repeat("z", 199) + "    tail"}, strings.Repeat("z", 199)},
	}
	for _, tc := range cases {
		got := txtReason(tc.txt)
		if got != tc.want || len(got) > 200 {
			t.Errorf("txtReason(%q) = %q (%d bytes), want %q", tc.txt, got, len(got), tc.want)
		}
	}
	e := newDNSBLEnv(t, oneList)
	e.res.addr("1.2.0.192.bl.test", "127.0.0.2")
	e.res.txt("1.2.0.192.bl.test", []string{"bad\r\n250 OK\r\nMAIL FROM:<x@evil.test>"})
	want := "554 5.7.1 Service unavailable; client [192.0.2.1] listed by bl.test: bad 250 OK MAIL FROM:<x@evil.test>"
	if reply, _ := e.send(t, "192.0.2.1", "mail.example.com", "a@example.com"); reply != want {
		t.Errorf("reply %q, want %q", reply, want)
	}
}

// TestDNSBLDomainLists: a domain list is asked about the HELO name and
// the MAIL FROM domain (RFC 5782 section 2.2), not about address
// literals, IPs or bare host names; its weight counts once.
func TestDNSBLDomainLists(t *testing.T) {
	t.Parallel()
	e := newDNSBLEnv(t, "    lists:\n      - {zone: dbl.test, type: domain}\n")
	e.res.addr("bad-helo.example.dbl.test", "127.0.1.2")
	e.res.txt("bad-helo.example.dbl.test", []string{"spam HELO"})
	e.res.addr("bad-sender.example.dbl.test", "127.0.1.2")
	cases := []struct{ helo, from, reply string }{
		{"bad-helo.example", "a@good.example", "554 5.7.1 Service unavailable; HELO name bad-helo.example listed by dbl.test: spam HELO"},
		{"BAD-HELO.example.", "", "554 5.7.1 Service unavailable; HELO name bad-helo.example listed by dbl.test: spam HELO"},
		{"mail.good.example", "a@Bad-Sender.Example", "554 5.7.1 Service unavailable; sender domain bad-sender.example listed by dbl.test"},
		{"mail.good.example", "a@good.example", ""},
		{"[192.0.2.1]", "", ""},
		{"192.0.2.1", "a@good.example", ""},
		{"localhost", "a@good.example", ""},
	}
	for _, tc := range cases {
		if reply, _ := e.send(t, "192.0.2.1", tc.helo, tc.from); reply != tc.reply {
			t.Errorf("HELO %s, MAIL FROM <%s>: reply %q, want %q", tc.helo, tc.from, reply, tc.reply)
		}
	}
	// Each name once (answers are cached); the HELO and sender lookups of
	// one check run concurrently, so the order is not fixed.
	want := "bad-helo.example.dbl.test. bad-sender.example.dbl.test. good.example.dbl.test. mail.good.example.dbl.test."
	if got := strings.Join(sorted(e.res.queries()), " "); got != want {
		t.Errorf("queries:\n%s\nwant\n%s", got, want)
	}
	// Both names listed by one list of weight 1, threshold 2: suspect.
	e = newDNSBLEnv(t, "    lists:\n      - {zone: dbl.test, type: domain}\n      - {zone: bl.test}\n    threshold: 2\n")
	e.res.addr("bad.example.dbl.test", "127.0.1.2")
	e.res.addr("mail.bad.example.dbl.test", "127.0.1.2")
	if reply, verdict := e.send(t, "192.0.2.1", "mail.bad.example", "a@bad.example"); reply != "" || verdict != "dnsbl=suspect" {
		t.Errorf("one list, two names: reply %q, tag %q; want suspect", reply, verdict)
	}
}

// TestDNSBLNotChecked: skip networks and logged-in sessions are never
// looked up, and get no verdict.
func TestDNSBLNotChecked(t *testing.T) {
	t.Parallel()
	e := newDNSBLEnv(t, oneList+"    skip: [10.0.0.0/8, 192.0.2.7, \"2001:db8::/32\"]\n")
	for _, ip := range []string{"10.1.2.3", "192.0.2.7", "2001:db8::25", "192.0.2.8"} {
		e.res.addr(reversed(netip.MustParseAddr(ip))+"bl.test", "127.0.0.2")
	}
	for _, ip := range []string{"10.1.2.3", "192.0.2.7", "::ffff:192.0.2.7", "2001:db8::25"} {
		if reply, _ := e.send(t, ip, "mail.example.com", "a@example.com"); reply != "" {
			t.Errorf("%s in skip: %q", ip, reply)
		}
	}
	conn := &Conn{SessionID: "s2", Listener: "test", Submission: true, IP: net.ParseIP("192.0.2.8"), Helo: "laptop", Account: "app@example.org"}
	if reply, _ := transact(t, e.ch, conn, "app@example.org", []string{"x@example.net"}, inbound); reply != "" {
		t.Errorf("logged-in session: %q", reply)
	}
	if q := e.res.queries(); len(q) != 0 {
		t.Errorf("looked up %v", q)
	}
	if reply, _ := e.send(t, "192.0.2.8", "mail.example.com", "a@example.com"); !strings.HasPrefix(reply, "554 ") {
		t.Errorf("the same address without login: %q", reply)
	}
	for _, r := range []string{"listed", "clean", "suspect", "temperror"} {
		if got := counter(t, e.reg, "dnsbl", r, dnsblResults[r]); got != btoi(r == "listed") {
			t.Errorf("verdicts %s = %v", r, got)
		}
	}
}

func btoi(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// TestDNSBLEarlyStartAndCache: Begin (the first EHLO) starts the address
// lookup before MAIL FROM; the next session and the next transaction use
// the answer, until it is a minute old (a failure: 10 seconds); a
// submission listener's Begin asks nothing.
func TestDNSBLEarlyStartAndCache(t *testing.T) {
	t.Parallel()
	e := newDNSBLEnv(t, oneList)
	e.res.addr("1.2.0.192.bl.test", "127.0.0.2")
	e.res.servfail("2.2.0.192.bl.test")
	ctx := context.Background()
	txn := e.ch.Begin(ctx, &Conn{SessionID: "s1", IP: net.ParseIP("192.0.2.1"), Helo: "mail.example.com"})
	deadline := time.Now().Add(5 * time.Second)
	for len(e.res.queries()) == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if q := e.res.queries(); len(q) != 1 {
		t.Fatalf("Begin asked %v, want the address lookup", q)
	}
	for range 2 {
		if err := txn.Mail(ctx, "a@example.com"); err == nil || replyLine(t, err) != "554 5.7.1 Service unavailable; client [192.0.2.1] listed by bl.test" {
			t.Errorf("MAIL FROM: %v", err)
		}
	}
	txn.Close()
	e.send(t, "192.0.2.1", "mail.example.com", "b@example.com")
	if q := e.res.queries(); len(q) != 1 {
		t.Errorf("asked %v; want one query for three transactions in two sessions", q)
	}
	e.now.Add(61)
	e.send(t, "192.0.2.1", "mail.example.com", "b@example.com")
	e.send(t, "192.0.2.2", "mail.example.com", "b@example.com")
	e.send(t, "192.0.2.2", "mail.example.com", "b@example.com")
	e.now.Add(11)
	e.send(t, "192.0.2.2", "mail.example.com", "b@example.com")
	if got := strings.Join(e.res.queries(), " "); got != "1.2.0.192.bl.test. 1.2.0.192.bl.test. 2.2.0.192.bl.test. 2.2.0.192.bl.test." {
		t.Errorf("after a minute, and a failure twice in 10s, then after 11s: %s", got)
	}
	sub := e.ch.Begin(ctx, &Conn{SessionID: "s3", Submission: true, IP: net.ParseIP("192.0.2.9"), Helo: "laptop"})
	time.Sleep(20 * time.Millisecond)
	sub.Close()
	if n := len(e.res.queries()); n != 4 {
		t.Errorf("a submission session's Begin looked up (%d queries)", n)
	}
}

// TestDNSBLCacheBounded: the cache keeps at most its size, dropping the
// oldest first.
func TestDNSBLCacheBounded(t *testing.T) {
	t.Parallel()
	now := time.Unix(0, 0)
	c := newDNSBLCache(2, time.Minute, time.Second, func() time.Time { return now })
	made := 0
	get := func(name string) *dnsblLookup {
		return c.get(name, func() *dnsblLookup {
			made++
			l := &dnsblLookup{ctx: context.Background(), done: make(chan struct{})}
			close(l.done)
			return l
		})
	}
	for _, n := range []string{"a", "b", "a", "c", "b", "a"} {
		l := get(n)
		c.done(n, l)
	}
	// a, b made; a kept; c drops a; b kept; a made again, dropping b.
	if made != 4 || c.order.Len() != 2 || len(c.byName) != 2 {
		t.Errorf("made %d, kept %d/%d; want 4 made, 2 kept", made, c.order.Len(), len(c.byName))
	}
}

// TestDNSBLRealResolver: through a real DNS server and the resolver the
// binary uses (A-only lookups), the listing and its TXT reason.
func TestDNSBLRealResolver(t *testing.T) {
	t.Parallel()
	srv := dnstest.Start(t, "2.0.0.127.bl.test. 300 IN A 127.0.0.2", `2.0.0.127.bl.test. 300 IN TXT "Test listing, see https://bl.test/"`)
	cfg := testConfig(t, []string{"dnsbl"}, "filters:\n  dnsbl:\n"+oneList)
	ch := newChain(t, cfg, Deps{Resolver: resolver.New(srv.Addr)})
	conn := &Conn{SessionID: "s1", IP: net.ParseIP("127.0.0.2"), Helo: "mail.example.com"}
	want := "554 5.7.1 Service unavailable; client [127.0.0.2] listed by bl.test: Test listing, see https://bl.test/"
	if reply, _ := transact(t, ch, conn, "a@example.com", []string{"b@mx.example.org"}, inbound); reply != want {
		t.Errorf("reply %q, want %q", reply, want)
	}
	conn = &Conn{SessionID: "s2", IP: net.ParseIP("127.0.0.3"), Helo: "mail.example.com"}
	if reply, _ := transact(t, ch, conn, "a@example.com", []string{"b@mx.example.org"}, inbound); reply != "" {
		t.Errorf("clean client: %q", reply)
	}
}
