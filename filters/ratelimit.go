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

	"mailgate/cluster"
	"mailgate/config"
	"mailgate/internal/mailmsg"
)

// RateLimits holds the token buckets, keyed by account, client IP (IPv6 by
// /64), sender domain and recipient domain. One is shared by the chains of
// every listener so that a client cannot double its budget by switching
// ports. Memory is bounded: a bucket idle long enough to be full again is
// dropped (a new one would be identical), and past MaxBuckets the oldest
// are dropped first.
type RateLimits struct {
	cfg RateLimitConfig
	now func() time.Time

	// shared, when set, keeps the buckets for every node (Redis); the
	// buckets here are then used only while it fails (fail open to this
	// node's own limits).
	shared SharedBuckets

	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

// SharedBuckets is a bucket store shared by several nodes
// (cluster.RateLimits).
type SharedBuckets interface {
	// Take takes from every bucket or from none, and returns the index of
	// the first without room, or -1.
	Take(bs []cluster.Bucket) (int, error)
	// Has reports whether b has room, taking nothing.
	Has(b cluster.Bucket) (bool, error)
}

// Share makes s hold the buckets, for limits that hold across nodes.
func (r *RateLimits) Share(s SharedBuckets) { r.shared = s }

type bucket struct {
	lim  *rate.Limiter
	last time.Time
	full time.Duration // time to refill from empty
}

// NewRateLimits makes the bucket store; now is the clock (tests pass a fake).
func NewRateLimits(cfg RateLimitConfig, now func() time.Time) *RateLimits {
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
	if r.shared != nil {
		if w, err := r.takeShared(wants); err == nil {
			return w
		}
	}
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

// has reports whether w's bucket holds a token for w, without taking it.
func (r *RateLimits) has(w want) bool {
	if w.limit <= 0 {
		return true
	}
	if r.shared != nil {
		if ok, err := r.shared.Has(w.bucket()); err == nil {
			return ok
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	r.sweep(now)
	return r.bucket(&w, now).lim.TokensAt(now) >= float64(w.n)
}

// takeShared is take on the shared store.
func (r *RateLimits) takeShared(wants []want) (*want, error) {
	var bs []cluster.Bucket
	var of []*want
	for i := range wants {
		if wants[i].limit > 0 {
			bs = append(bs, wants[i].bucket())
			of = append(of, &wants[i])
		}
	}
	over, err := r.shared.Take(bs)
	if err != nil || over < 0 {
		return nil, err
	}
	return of[over], nil
}

func (w want) bucket() cluster.Bucket {
	return cluster.Bucket{Key: w.key, Limit: w.limit, Period: w.period, N: w.n}
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

// newRateLimit makes the filter over the bucket store every listener's
// chain shares (Deps.RateLimits), which holds the block's settings.
func newRateLimit(_ *RateLimitConfig, _ *config.Config, deps Deps) (*rateLimitFilter, error) {
	return &rateLimitFilter{rl: deps.RateLimits, accountLimit: deps.AccountLimit}, nil
}

// rateLimitFilter applies RateLimits to connections, MAIL and RCPT.
type rateLimitFilter struct {
	rl           *RateLimits
	accountLimit func(account string) (Limit, bool)
}

func (f *rateLimitFilter) Name() string { return "ratelimit" }
func (f *rateLimitFilter) Begin(conn *Conn) Session {
	return &rateLimitSession{f: f, rl: f.rl, domains: map[string]bool{}}
}

// Admit keeps connections_per_ip for clients that do not log in. Where no
// client can log in (MX), each connection takes a token at once. Where
// clients log in, a connection is only refused when the budget is spent,
// and it is charged when it ends without a login: an application that
// logs in on every connection is held by its account's limits, not by
// its address's, while one that only connects (or fails AUTH) spends the
// budget as on MX.
func (f *rateLimitFilter) Admit(ip net.IP, login bool) (Verdict, func(bool)) {
	c := f.rl.cfg.Connections
	noop := func(bool) {}
	if ip == nil || c.Count <= 0 {
		return Verdict{}, noop
	}
	w := want{key: "conn:" + ipKey(ip), limit: c.Count, period: c.Period.D(), n: 1}
	flood := Verdict{Result: "flood", Reason: "connections from " + ipKey(ip), Reply: &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 7, 0},
		Message: fmt.Sprintf("Too many connections from your address (more than %d in %s); try again later", c.Count, short(c.Period.D()))}}
	if !login {
		if f.rl.take([]want{w}) != nil {
			return flood, noop
		}
		return Verdict{Result: "pass"}, noop
	}
	if !f.rl.has(w) {
		return flood, noop
	}
	return Verdict{Result: "pass"}, func(loggedIn bool) {
		if !loggedIn {
			f.rl.take([]want{w}) // may find the budget spent: then it stays so
		}
	}
}

type rateLimitSession struct {
	f       *rateLimitFilter
	rl      *RateLimits
	domains map[string]bool // recipient domains already counted this message
}

func (s *rateLimitSession) Close() {}
func (s *rateLimitSession) Reset() { clear(s.domains) }

// CheckMail takes one message from each of the transaction's buckets.
func (s *rateLimitSession) CheckMail(ctx context.Context, st *State) Verdict {
	return s.over(s.rl.take(s.wants(st, true, 1)))
}

// CheckRcpt takes one recipient, and for authenticated mail one message
// per new recipient domain.
func (s *rateLimitSession) CheckRcpt(ctx context.Context, st *State, to string) Verdict {
	wants := s.wants(st, false, 1)
	dom := mailmsg.Domain(to)
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

// wants lists the buckets a transaction takes from: a logged-in client's
// account, or else the client IP's and the sender domain's. A logged-in
// client's address and sender domain are its account's business (its
// send-as list); counting them too would let one busy application hold
// up every other user of its network or domain.
func (s *rateLimitSession) wants(st *State, messages bool, n int) []want {
	var out []want
	add := func(kind, key, what string, l Limit) {
		limit, tag, unit := l.Recipients, "-r:", "recipients"
		if messages {
			limit, tag, unit = l.Messages, "-m:", "messages"
		}
		out = append(out, want{key: kind + tag + key, limit: limit, period: l.Period.D(), n: n, what: unit + " from " + what})
	}
	cfg := s.rl.cfg
	if a := st.Conn.Account; a != "" {
		add("account", strings.ToLower(a), "your account", s.f.limitOf(a))
		return out
	}
	if st.Conn.IP != nil {
		add("ip", ipKey(st.Conn.IP), "your address", cfg.PerIP)
	}
	if d := mailmsg.Domain(st.From); d != "" {
		add("sender", d, "sender domain "+d, cfg.PerSenderDomain)
	}
	return out
}

// limitOf is an account's limit: its own from accounts.yaml, else its
// entry under filters.ratelimit.accounts, else per_account.
func (f *rateLimitFilter) limitOf(account string) Limit {
	if l, ok := f.accountLimit(account); ok {
		return l
	}
	cfg := f.rl.cfg
	l, ok := cfg.Accounts[account]
	if !ok {
		return cfg.PerAccount
	}
	if l.Period == 0 {
		l.Period = cfg.PerAccount.Period
	}
	return l
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
