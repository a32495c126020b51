package filters

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
	"golang.org/x/time/rate"

	"mailgate/config"
)

// RateLimits holds the token buckets, keyed by account, client IP (IPv6 by
// /64), sender domain and recipient domain. One is shared by the chains of
// every listener so that a client cannot double its budget by switching
// ports. Memory is bounded: a bucket idle long enough to be full again is
// dropped (a new one would be identical), and past MaxBuckets the oldest
// are dropped first.
type RateLimits struct {
	cfg config.RateLimitFilter
	now func() time.Time

	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	lim  *rate.Limiter
	last time.Time
	full time.Duration // time to refill from empty
}

// NewRateLimits makes the bucket store; now is the clock (tests pass a fake).
func NewRateLimits(cfg config.RateLimitFilter, now func() time.Time) *RateLimits {
	if now == nil {
		now = time.Now
	}
	return &RateLimits{cfg: cfg, now: now, buckets: map[string]*bucket{}}
}

// Len returns how many buckets are held.
func (r *RateLimits) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.buckets)
}

// want is one bucket to take n tokens from.
type want struct {
	key    string
	limit  int
	period time.Duration
	n      int
	what   string // for the reply: "messages from your account"
}

// take takes tokens from every bucket, or from none: it returns the first
// want that is over its limit.
func (r *RateLimits) take(wants []want) *want {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	r.sweep(now)
	var done []*rate.Reservation
	for i := range wants {
		w := &wants[i]
		if w.limit <= 0 {
			continue
		}
		b := r.bucket(w, now)
		res := b.lim.ReserveN(now, w.n)
		if !res.OK() || res.DelayFrom(now) > 0 {
			res.CancelAt(now)
			for _, d := range done {
				d.CancelAt(now)
			}
			return w
		}
		done = append(done, res)
	}
	return nil
}

func (r *RateLimits) bucket(w *want, now time.Time) *bucket {
	b := r.buckets[w.key]
	if b == nil || b.lim.Burst() != w.limit {
		every := w.period / time.Duration(w.limit)
		b = &bucket{lim: rate.NewLimiter(rate.Every(every), w.limit), full: w.period}
		r.buckets[w.key] = b
	}
	b.last = now
	return b
}

// sweep drops idle buckets once a minute, and at once when over the cap.
func (r *RateLimits) sweep(now time.Time) {
	max := r.cfg.MaxBuckets
	if len(r.buckets) < max && now.Sub(r.lastSweep) < time.Minute {
		return
	}
	r.lastSweep = now
	for k, b := range r.buckets {
		if now.Sub(b.last) >= b.full {
			delete(r.buckets, k)
		}
	}
	if max > 0 && len(r.buckets) >= max {
		r.dropOldest(len(r.buckets) - max*9/10)
	}
}

// dropOldest drops the n least recently used buckets; their keys start
// afresh, which errs on the side of letting mail through.
func (r *RateLimits) dropOldest(n int) {
	keys := make([]string, 0, len(r.buckets))
	for k := range r.buckets {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return r.buckets[a].last.Compare(r.buckets[b].last) })
	for _, k := range keys[:n] {
		delete(r.buckets, k)
	}
}

// ipKey keys IPv4 by address and IPv6 by /64, since one host usually owns
// a whole /64.
func ipKey(ip net.IP) string {
	if v4 := ip.To4(); v4 != nil {
		return v4.String()
	}
	return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
}

// rateLimitFilter applies RateLimits at connection, MAIL and RCPT.
type rateLimitFilter struct{ rl *RateLimits }

func (f *rateLimitFilter) Name() string { return "ratelimit" }
func (f *rateLimitFilter) Begin(conn *Conn) Session {
	return &rateLimitSession{rl: f.rl, domains: map[string]bool{}}
}

type rateLimitSession struct {
	rl      *RateLimits
	domains map[string]bool // recipient domains already counted this message
}

func (s *rateLimitSession) Close() {}
func (s *rateLimitSession) Reset() { clear(s.domains) }

// CheckConn counts the connection against the client IP's budget.
func (s *rateLimitSession) CheckConn(ctx context.Context, st *State) Verdict {
	c := s.rl.cfg.Connections
	if st.Conn.IP == nil {
		return Verdict{}
	}
	if w := s.rl.take([]want{{key: "conn:" + ipKey(st.Conn.IP), limit: c.Count, period: c.Period.D(), n: 1}}); w != nil {
		return Verdict{Result: "flood", Reason: "connections from " + ipKey(st.Conn.IP), Reply: &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 7, 0},
			Message: fmt.Sprintf("Too many connections from your address (more than %d in %s); try again later", c.Count, short(c.Period.D()))}}
	}
	return Verdict{Result: "pass"}
}

// CheckMail takes one message from each of the transaction's buckets.
func (s *rateLimitSession) CheckMail(ctx context.Context, st *State) Verdict {
	return s.over(s.rl.take(s.wants(st, true, 1)))
}

// CheckRcpt takes one recipient, and for authenticated mail one message
// per new recipient domain.
func (s *rateLimitSession) CheckRcpt(ctx context.Context, st *State, to string) Verdict {
	wants := s.wants(st, false, 1)
	dom := domainOf(to)
	if st.Conn.Account != "" && dom != "" {
		l := s.rl.cfg.PerRcptDomain
		wants = append(wants, want{key: "rcptdom-r:" + dom, limit: l.Recipients, period: l.Period.D(), n: 1, what: "recipients at " + dom})
		if !s.domains[dom] {
			wants = append(wants, want{key: "rcptdom-m:" + dom, limit: l.Messages, period: l.Period.D(), n: 1, what: "messages to " + dom})
		}
	}
	v := s.over(s.rl.take(wants))
	if v.Result == "pass" && dom != "" {
		s.domains[dom] = true
	}
	return v
}

// wants lists the account, IP and sender-domain buckets of a transaction.
func (s *rateLimitSession) wants(st *State, messages bool, n int) []want {
	var out []want
	add := func(kind, key, what string, l config.Limit) {
		limit, tag, unit := l.Recipients, "-r:", "recipients"
		if messages {
			limit, tag, unit = l.Messages, "-m:", "messages"
		}
		out = append(out, want{key: kind + tag + key, limit: limit, period: l.Period.D(), n: n, what: unit + " from " + what})
	}
	cfg := s.rl.cfg
	if a := st.Conn.Account; a != "" {
		l, ok := cfg.Accounts[a]
		if !ok {
			l = cfg.PerAccount
		} else if l.Period == 0 {
			l.Period = cfg.PerAccount.Period
		}
		add("account", a, "your account", l)
	}
	if st.Conn.IP != nil {
		add("ip", ipKey(st.Conn.IP), "your address", cfg.PerIP)
	}
	if d := domainOf(st.From); d != "" {
		add("sender", d, "sender domain "+d, cfg.PerSenderDomain)
	}
	return out
}

func (s *rateLimitSession) over(w *want) Verdict {
	if w == nil {
		return Verdict{Result: "pass"}
	}
	return Verdict{Result: "over", Reason: w.key, Reply: &smtp.SMTPError{Code: 450, EnhancedCode: smtp.EnhancedCode{4, 7, 1},
		Message: fmt.Sprintf("Rate limit reached: more than %d %s in %s; try again later", w.limit, w.what, short(w.period))}}
}

// short renders a period without zero units: 1h, 1m, 1h30m.
func short(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
