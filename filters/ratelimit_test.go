package filters

import (
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"mailgate/config"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// limitChain builds a ratelimit-only chain on a fake clock.
func limitChain(t *testing.T, yaml string) (*Chain, *fakeClock, *RateLimits) {
	clock := newClock()
	cfg := testConfig(t, []string{"ratelimit"}, "filters:\n  ratelimit:\n"+yaml)
	rl := NewRateLimits(RateLimitSettings(cfg), clock.Now)
	return newChain(t, cfg, Deps{Now: clock.Now, RateLimits: rl}), clock, rl
}

func send(t *testing.T, ch *Chain, conn *Conn, from string, rcpts ...string) string {
	t.Helper()
	if len(rcpts) == 0 {
		rcpts = []string{"bob@mx.example.org"}
	}
	reply, _ := transact(t, ch, conn, from, rcpts, inbound)
	return reply
}

func TestRateLimitMessagesPerIP(t *testing.T) {
	t.Parallel()
	ch, clock, _ := limitChain(t, "    per_ip: {messages: 3, recipients: 0, period: 1h}\n")
	conn := &Conn{IP: net.ParseIP("192.0.2.1")}
	over := "450 4.7.1 Rate limit reached: more than 3 messages from your address in 1h; try again later"
	steps := []struct {
		advance time.Duration
		want    string
	}{{0, ""}, {0, ""}, {0, ""}, {0, over}, {19 * time.Minute, over}, {time.Minute, ""}, {0, over}, {time.Hour, ""}}
	for i, s := range steps {
		clock.Advance(s.advance)
		if got := send(t, ch, conn, "a@example.com"); got != s.want {
			t.Errorf("message %d: %q, want %q", i+1, got, s.want)
		}
	}
}

func TestRateLimitIPv6Per64(t *testing.T) {
	t.Parallel()
	ch, _, _ := limitChain(t, "    per_ip: {messages: 1, period: 1h}\n")
	if got := send(t, ch, &Conn{IP: net.ParseIP("2001:db8::1")}, "a@example.com"); got != "" {
		t.Fatal(got)
	}
	if got := send(t, ch, &Conn{IP: net.ParseIP("2001:db8::ffff:2")}, "a@example.com"); got == "" {
		t.Error("same /64 got a second budget")
	}
	if got := send(t, ch, &Conn{IP: net.ParseIP("2001:db8:0:1::1")}, "a@example.com"); got != "" {
		t.Errorf("other /64 limited: %s", got)
	}
}

func TestRateLimitAccountsAndOverrides(t *testing.T) {
	t.Parallel()
	ch, _, _ := limitChain(t, "    per_ip: {messages: 0, recipients: 0}\n    per_sender_domain: {messages: 0, recipients: 0}\n"+
		"    per_recipient_domain: {messages: 0, recipients: 0}\n"+
		"    per_account: {messages: 2, recipients: 5, period: 1h}\n    accounts:\n      app: {messages: 10, recipients: 50}\n")
	user := &Conn{IP: net.ParseIP("192.0.2.1"), Account: "user"}
	app := &Conn{IP: net.ParseIP("192.0.2.1"), Account: "app"}
	for i := 0; i < 2; i++ {
		if got := send(t, ch, user, "user@example.org"); got != "" {
			t.Fatal(got)
		}
	}
	if got, want := send(t, ch, user, "user@example.org"), "450 4.7.1 Rate limit reached: more than 2 messages from your account in 1h; try again later"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	for i := 0; i < 10; i++ {
		if got := send(t, ch, app, "app@example.org"); got != "" {
			t.Fatalf("app message %d: %s", i+1, got)
		}
	}
	other := &Conn{IP: net.ParseIP("192.0.2.1"), Account: "other"}
	rcpts := []string{"1@a.example", "2@a.example", "3@a.example", "4@a.example", "5@a.example", "6@a.example"}
	if got, want := send(t, ch, other, "other@example.org", rcpts...), "450 4.7.1 Rate limit reached: more than 5 recipients from your account in 1h; try again later"; got != want {
		t.Errorf("sixth recipient: %q, want %q", got, want)
	}
}

func TestRateLimitRecipientDomain(t *testing.T) {
	t.Parallel()
	ch, _, _ := limitChain(t, "    per_recipient_domain: {messages: 2, recipients: 10, period: 1h}\n")
	conn := &Conn{IP: net.ParseIP("192.0.2.1"), Account: "app"}
	// Two recipients at one domain count as one message to it.
	for i := 0; i < 2; i++ {
		if got := send(t, ch, conn, "app@example.org", "x@big.example", "y@big.example"); got != "" {
			t.Fatalf("message %d: %s", i+1, got)
		}
	}
	want := "450 4.7.1 Rate limit reached: more than 2 messages to big.example in 1h; try again later"
	if got := send(t, ch, conn, "app@example.org", "z@big.example"); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := send(t, ch, conn, "app@example.org", "z@small.example"); got != "" {
		t.Errorf("other domain: %s", got)
	}
	// Inbound (no account): recipient domains are ours, not limited.
	if got := send(t, ch, &Conn{IP: net.ParseIP("192.0.2.2")}, "a@example.com", "z@big.example"); got != "" {
		t.Errorf("inbound: %s", got)
	}
}

// TestRateLimitAllOrNothing: a message refused by one bucket takes no
// token from the others.
func TestRateLimitAllOrNothing(t *testing.T) {
	t.Parallel()
	ch, _, _ := limitChain(t, "    per_ip: {messages: 2, period: 1h}\n    per_sender_domain: {messages: 1, period: 1h}\n")
	conn := &Conn{IP: net.ParseIP("192.0.2.1")}
	want := []string{"", "450 4.7.1 Rate limit reached: more than 1 messages from sender domain x.example in 1h; try again later", "",
		"450 4.7.1 Rate limit reached: more than 2 messages from your address in 1h; try again later"}
	for i, from := range []string{"a@x.example", "b@x.example", "c@y.example", "d@z.example"} {
		if got := send(t, ch, conn, from); got != want[i] {
			t.Errorf("%s: %q, want %q", from, got, want[i])
		}
	}
}

// TestRateLimitConnectionFlood: where nobody logs in, every connection
// takes a token as it comes.
func TestRateLimitConnectionFlood(t *testing.T) {
	t.Parallel()
	ch, clock, _ := limitChain(t, "    connections_per_ip: {count: 2, period: 1m}\n")
	ip := net.ParseIP("192.0.2.1")
	want := []string{"", "", "421 4.7.0 Too many connections from your address (more than 2 in 1m); try again later"}
	for i, w := range want {
		if got := admit(t, ch, ip, false, false); got != w {
			t.Errorf("connection %d: %q, want %q", i+1, got, w)
		}
	}
	clock.Advance(30 * time.Second)
	if got := admit(t, ch, ip, false, false); got != "" {
		t.Errorf("after 30s: %q", got)
	}
}

// TestRateLimitConnectionsThatLogIn: where clients log in, connections
// that do are not counted at all, those that do not are counted when
// they end, and a spent budget refuses every connection.
func TestRateLimitConnectionsThatLogIn(t *testing.T) {
	t.Parallel()
	ch, clock, _ := limitChain(t, "    connections_per_ip: {count: 2, period: 1m}\n")
	ip := net.ParseIP("192.0.2.1")
	for i := 0; i < 100; i++ {
		if got := admit(t, ch, ip, true, true); got != "" {
			t.Fatalf("connection %d that logs in: %q", i+1, got)
		}
	}
	flood := "421 4.7.0 Too many connections from your address (more than 2 in 1m); try again later"
	for i, w := range []string{"", "", flood} {
		if got := admit(t, ch, ip, true, false); got != w {
			t.Errorf("connection %d without login: %q, want %q", i+1, got, w)
		}
	}
	if got := admit(t, ch, ip, true, true); got != flood {
		t.Errorf("after the budget was spent: %q, want %q", got, flood)
	}
	if got := admit(t, ch, net.ParseIP("192.0.2.2"), true, false); got != "" {
		t.Errorf("another address: %q", got)
	}
	clock.Advance(30 * time.Second)
	if got := admit(t, ch, ip, true, true); got != "" {
		t.Errorf("after 30s: %q", got)
	}
}

// admit opens and closes one connection from ip; it returns the refusal
// ("" when admitted).
func admit(t *testing.T, ch *Chain, ip net.IP, login, loggedIn bool) string {
	t.Helper()
	ended, err := ch.Admit(ip, login)
	if err != nil {
		return replyLine(t, err)
	}
	ended(loggedIn)
	return ""
}

// TestRateLimitMemoryBounded: buckets are capped, and idle ones (full
// again) are dropped.
func TestRateLimitMemoryBounded(t *testing.T) {
	t.Parallel()
	ch, clock, rl := limitChain(t, "    per_ip: {messages: 5, period: 1h}\n    max_buckets: 100\n")
	for i := 0; i < 300; i++ {
		send(t, ch, &Conn{IP: net.ParseIP(fmt.Sprintf("10.0.%d.%d", i/256, i%256))}, "a@example.com")
		if n := rl.Len(); n > 100 {
			t.Fatalf("%d buckets after %d clients, cap is 100", n, i+1)
		}
	}
	clock.Advance(2 * time.Hour)
	send(t, ch, &Conn{IP: net.ParseIP("192.0.2.1")}, "a@example.com")
	// Only the last client's: IP and sender domain buckets for messages
	// and recipients.
	if n := rl.Len(); n != 4 {
		t.Errorf("%d buckets after everyone was idle for 2h", n)
	}
}

// TestRateLimitLoggedInByAccountOnly: a logged-in client is held by its
// account's limit alone (its own one from accounts.yaml first), not by
// the per-IP and sender-domain limits meant for clients that do not log in.
func TestRateLimitLoggedInByAccountOnly(t *testing.T) {
	t.Parallel()
	clock := newClock()
	cfg := testConfig(t, []string{"ratelimit"}, "filters:\n  ratelimit:\n    per_ip: {messages: 1, period: 1h}\n"+
		"    per_sender_domain: {messages: 1, period: 1h}\n    per_account: {messages: 2, period: 1h}\n    accounts:\n      cfg@example.org: {messages: 3}\n")
	own := func(a string) (Limit, bool) {
		return Limit{Messages: 4, Period: config.Duration(time.Hour)}, a == "own@example.org"
	}
	ch := newChain(t, cfg, Deps{Now: clock.Now, RateLimits: NewRateLimits(RateLimitSettings(cfg), clock.Now), AccountLimit: own})
	for account, n := range map[string]int{"plain@example.org": 2, "cfg@example.org": 3, "own@example.org": 4} {
		conn := &Conn{IP: net.ParseIP("192.0.2.1"), Account: account}
		for i := 0; i < n; i++ {
			if got := send(t, ch, conn, account); got != "" {
				t.Fatalf("%s message %d: %s", account, i+1, got)
			}
		}
		want := fmt.Sprintf("450 4.7.1 Rate limit reached: more than %d messages from your account in 1h; try again later", n)
		if got := send(t, ch, conn, account); got != want {
			t.Errorf("%s message %d: %q, want %q", account, n+1, got, want)
		}
	}
	// The address's budget was not touched by the logged-in clients.
	if got := send(t, ch, &Conn{IP: net.ParseIP("192.0.2.1")}, "x@other.example"); got != "" {
		t.Errorf("first message without login: %s", got)
	}
}

func TestRetryAfter(t *testing.T) {
	for msg, want := range map[string]time.Duration{
		"Rate limit reached: more than 3 messages from your account in 1h; try again later":      20 * time.Minute,
		"Rate limit reached: more than 2 messages to big.example in 1m; try again later":         30 * time.Second,
		"Rate limit reached: more than 6000 messages from your account in 1m; try again later":   time.Second,
		"Rate limit reached: more than 5 recipients from your account in 1h30m; try again later": 18 * time.Minute,
	} {
		got, ok := RetryAfter(&smtp.SMTPError{Code: 450, EnhancedCode: smtp.EnhancedCode{4, 7, 1}, Message: msg})
		if !ok || got != want {
			t.Errorf("%q: got %v %v, want %v", msg, got, ok, want)
		}
	}
	if _, ok := RetryAfter(&smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "no"}); ok {
		t.Error("a policy refusal gave a Retry-After")
	}
}
