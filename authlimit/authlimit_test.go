package authlimit

import (
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

func TestLockoutWindowAndExpiry(t *testing.T) {
	t.Parallel()
	c := &clock{t: time.Unix(1e9, 0)}
	l := New(3, 10*time.Minute, 15*time.Minute, c.now)
	if l.Fail("192.0.2.1") || l.Fail("192.0.2.1") {
		t.Fatal("locked before 3 failures")
	}
	c.add(11 * time.Minute) // the first two fall out of the window
	if l.Fail("192.0.2.1") || l.Locked("192.0.2.1") {
		t.Fatal("failures outside the window counted")
	}
	l.Fail("192.0.2.1")
	if !l.Fail("192.0.2.1") || !l.Locked("192.0.2.1") {
		t.Fatal("not locked after 3 failures within the window")
	}
	if l.Locked("192.0.2.2") {
		t.Fatal("another address is locked too")
	}
	l.Succeed("192.0.2.1") // a success during the lockout does not lift it
	if !l.Locked("192.0.2.1") {
		t.Fatal("lockout lifted by a success")
	}
	c.add(16 * time.Minute)
	if l.Locked("192.0.2.1") {
		t.Fatal("still locked after the lockout ended")
	}
}
