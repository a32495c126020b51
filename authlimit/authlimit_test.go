package authlimit

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func newLimiter(c *clock, log *bytes.Buffer) *Limiter {
	o := Options{MaxFailures: 3, MaxAccountFailures: 6, Window: 10 * time.Minute, Lockout: 15 * time.Minute, Now: c.now}
	if log != nil {
		o.Logger = slog.New(slog.NewTextHandler(log, nil))
	}
	return New(o)
}

func TestLockoutWindowAndExpiry(t *testing.T) {
	t.Parallel()
	c := &clock{t: time.Unix(1e9, 0)}
	l := newLimiter(c, nil)
	if l.Fail("192.0.2.1", "") || l.Fail("192.0.2.1", "") {
		t.Fatal("locked before 3 failures")
	}
	c.add(11 * time.Minute) // the first two fall out of the window
	if l.Fail("192.0.2.1", "") || l.Locked("192.0.2.1") {
		t.Fatal("failures outside the window counted")
	}
	l.Fail("192.0.2.1", "")
	if !l.Fail("192.0.2.1", "") || !l.Locked("192.0.2.1") {
		t.Fatal("not locked after 3 failures within the window")
	}
	if l.Locked("192.0.2.2") {
		t.Fatal("another address is locked too")
	}
	l.Succeed("192.0.2.1", "") // a success during the lockout does not lift it
	if !l.Locked("192.0.2.1") {
		t.Fatal("lockout lifted by a success")
	}
	c.add(16 * time.Minute)
	if l.Locked("192.0.2.1") {
		t.Fatal("still locked after the lockout ended")
	}
}

// TestOneLinePerLockout: a flood of refused attempts writes no line of
// its own; the lockout gets one line when it starts and one with the
// count when it ends.
func TestOneLinePerLockout(t *testing.T) {
	t.Parallel()
	c := &clock{t: time.Unix(1e9, 0)}
	var log bytes.Buffer
	l := newLimiter(c, &log)
	for range 3 {
		l.Fail("192.0.2.1", "alice")
	}
	for range 100_000 {
		if !l.Refused("192.0.2.1", "alice") {
			t.Fatal("a locked address was let through")
		}
	}
	if n := strings.Count(log.String(), "\n"); n != 1 || !strings.Contains(log.String(), `msg="login lockout" client=192.0.2.1 failures=3`) {
		t.Fatalf("log during the lockout:\n%s", log.String())
	}
	c.add(16 * time.Minute)
	if l.Refused("192.0.2.1", "alice") {
		t.Fatal("refused after the lockout")
	}
	if !strings.Contains(log.String(), `msg="login lockout ended" client=192.0.2.1 refused=100000`) ||
		strings.Count(log.String(), "\n") != 2 {
		t.Fatalf("log after the lockout:\n%s", log.String())
	}
}

// TestAccountLockoutAcrossAddresses: guesses at one account from many
// addresses, each under the per-IP limit, lock the account, but not for
// an address its owner has logged in from.
func TestAccountLockoutAcrossAddresses(t *testing.T) {
	t.Parallel()
	c := &clock{t: time.Unix(1e9, 0)}
	l := newLimiter(c, nil)
	l.Succeed("198.51.100.7", "alice@example.com") // the owner's usual address
	for i := range 6 {
		ip := fmt.Sprintf("203.0.113.%d", i)
		if l.Refused(ip, "alice@example.com") {
			t.Fatalf("attempt %d refused before the account limit", i)
		}
		l.Fail(ip, "alice@example.com")
	}
	if !l.Refused("203.0.113.99", "ALICE@example.com") {
		t.Fatal("a fresh address may still guess at the locked account")
	}
	if l.Refused("203.0.113.99", "bob@example.com") {
		t.Fatal("another account is locked too")
	}
	if l.Refused("198.51.100.7", "alice@example.com") {
		t.Fatal("the owner's address is locked out of its own account")
	}
	c.add(16 * time.Minute)
	if l.Refused("203.0.113.99", "alice@example.com") {
		t.Fatal("account still locked after the lockout")
	}
}

// TestMemoryBounded: records of addresses and user names that stopped
// trying are dropped.
func TestMemoryBounded(t *testing.T) {
	t.Parallel()
	c := &clock{t: time.Unix(1e9, 0)}
	l := newLimiter(c, nil)
	for i := range 1000 {
		l.Fail(fmt.Sprintf("10.0.%d.%d", i/256, i%256), fmt.Sprintf("user%d", i))
	}
	c.add(time.Hour)
	l.Fail("192.0.2.1", "x")
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.byIP) != 1 || len(l.byAccount) != 1 {
		t.Fatalf("kept %d address and %d account records", len(l.byIP), len(l.byAccount))
	}
}

// TestIPv6CountsBySlash64: addresses of one /64 share their failures.
func TestIPv6CountsBySlash64(t *testing.T) {
	t.Parallel()
	c := &clock{t: time.Unix(1e9, 0)}
	l := newLimiter(c, nil)
	l.Fail("2001:db8:1:2::1", "")
	l.Fail("2001:db8:1:2::2", "")
	l.Fail("2001:db8:1:2:ffff::3", "")
	if !l.Locked("2001:db8:1:2::99") {
		t.Fatal("a /64 that failed 3 times is not locked")
	}
	if l.Locked("2001:db8:1:3::1") {
		t.Fatal("the next /64 is locked too")
	}
}

// BenchmarkRefused is what a refused login costs the server besides the
// protocol exchange: one locked address retrying.
func BenchmarkRefused(b *testing.B) {
	c := &clock{t: time.Unix(1e9, 0)}
	l := newLimiter(c, nil)
	for range 3 {
		l.Fail("192.0.2.1", "alice")
	}
	b.ReportAllocs()
	for b.Loop() {
		if !l.Refused("192.0.2.1", "alice") {
			b.Fatal("not refused")
		}
	}
}

// syncBuffer is a log destination the limiter's timer may write to while
// the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestLockoutEndLineWithoutActivity: the end line with its count is
// written when the lockout ends, even if the address never comes back.
func TestLockoutEndLineWithoutActivity(t *testing.T) {
	t.Parallel()
	var log syncBuffer
	l := New(Options{MaxFailures: 2, Window: time.Minute, Lockout: 20 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(&log, nil))})
	l.Fail("192.0.2.1", "")
	l.Fail("192.0.2.1", "")
	for range 500 {
		if strings.Contains(log.String(), `msg="login lockout ended" client=192.0.2.1 refused=0`) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no end line after the lockout:\n%s", log.String())
}
