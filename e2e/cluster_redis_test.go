package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"mailgate/internal/mgtest"
)

// TestClusterTwoNodes runs two nodes with their own data directories,
// one redis-server and HAProxy in front (one frontend per node, PROXY
// v1 to A and v2 to B): a per-account limit of 3 messages (an hour, so
// that no token comes back during a slow run) admits exactly 3 across
// both nodes; an address locked out on A is
// refused on B while another address logs in there; with Redis killed,
// rate limits fail open (counted in a metric and logged), logins go on
// for the grace and are then refused, and all recovers once Redis is
// back.
func TestClusterTwoNodes(t *testing.T) {
	rd, raddr := startRedis(t)
	cfg := fmt.Sprintf("auth:\n  max_failures: 3\n  delay: 1ms\ncluster:\n  redis:\n    address: %s\n    lockout_grace: 5s\n"+
		"filters:\n  ratelimit:\n    per_account: {messages: 3, recipients: 100, period: 1h}\n", raddr)
	users := map[string]string{"alice@localhost": "alice-secret-1", "bob@localhost": "bob-secret-1"}
	keys := proxiedKeys + "\n    allow_insecure_auth: true"
	opts := mgtest.Options{Protocols: []string{"submission", "http"}, Config: cfg, Users: users,
		Filters: map[string][]string{"submission": {"ratelimit"}}}
	a := startWithListenerKeys(t, opts, map[string]string{"submission": keys})
	b := startWithListenerKeys(t, opts, map[string]string{"submission": keys})
	front := startHAProxy(t, map[string][]string{
		"a": {a.Addr["submission"] + " send-proxy"}, "b": {b.Addr["submission"] + " send-proxy-v2"}})

	// The shared limit: 3 accepted of 6 tries, alternating nodes.
	accepted := 0
	for i := range 6 {
		node := []string{"a", "b"}[i%2]
		r := submitFrom(t, "127.0.0.5", front[node], "alice@localhost", "alice-secret-1", "alice@localhost", "someone@example.net")
		switch {
		case strings.HasPrefix(r, "250 "):
			accepted++
		case !strings.HasPrefix(r, "450 4.7.1"):
			t.Fatalf("message %d on node %s: %q; want 250 or 450 4.7.1", i, node, r)
		}
	}
	if accepted != 3 {
		t.Errorf("%d messages accepted across both nodes; want exactly 3 (per_account limit)", accepted)
	}

	// The shared lockout: 3 failures on A lock 127.0.0.7 out of B too.
	for range 3 {
		smtpAuth(t, "127.0.0.7", front["a"], "bob@localhost", "wrong")
	}
	if r := smtpAuth(t, "127.0.0.7", front["b"], "bob@localhost", "bob-secret-1"); !strings.HasPrefix(r, "454 4.7.0") {
		t.Errorf("right password on B from the address locked out on A: %q; want 454 4.7.0", r)
	}
	if r := smtpAuth(t, "127.0.0.8", front["b"], "bob@localhost", "bob-secret-1"); !strings.HasPrefix(r, "235") {
		t.Errorf("login on B from another address: %q; want 235", r)
	}

	// Redis dies: rate limits fail open to the node's own buckets.
	rd.kill()
	if r := submitFrom(t, "127.0.0.5", front["a"], "alice@localhost", "alice-secret-1", "alice@localhost", "someone@example.net"); !strings.HasPrefix(r, "250 ") {
		t.Errorf("message with Redis down: %q; want 250 (rate limits fail open)", r)
	}
	a.WaitLog(`msg="redis unavailable`)
	if n, _ := scrapeMetrics(t, a).value("mailgate_cluster_redis_errors_total", "feature", "ratelimit"); n < 1 {
		t.Errorf("mailgate_cluster_redis_errors_total{feature=ratelimit} = %v; want at least 1", n)
	}
	// Logins: on for the grace (the first try starts it), then refused.
	if r := smtpAuth(t, "127.0.0.9", front["b"], "bob@localhost", "bob-secret-1"); !strings.HasPrefix(r, "235") {
		t.Errorf("login with Redis just down: %q; want 235 within lockout_grace", r)
	}
	waitAuth(t, front["b"], "bob@localhost", "bob-secret-1", "454 4.7.0")

	// Redis is back (empty: no persistence in this test): all recovers.
	rd.start(raddr)
	waitAuth(t, front["b"], "bob@localhost", "bob-secret-1", "235")
	b.WaitLog(`msg="redis reachable again"`)
}

// waitAuth retries a login from 127.0.0.9 until its reply starts with
// want; the failure policy changes with time (grace, backoff).
func waitAuth(t *testing.T, addr, user, pass, want string) {
	t.Helper()
	deadline := time.Now().Add(mgtest.Timeout)
	var r string
	for time.Now().Before(deadline) {
		if r = smtpAuth(t, "127.0.0.9", addr, user, pass); strings.HasPrefix(r, want) {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("login kept answering %q; want %s", r, want)
}
