package filters

import (
	"container/list"
	"context"
	"sync"
	"time"
)

// The dnsbl filter's lookups in flight and its bounded cache of answers
// (dnsbl.go asks, this file shares and forgets).

// dnsblLookup is one query, in flight until done is closed; ans is set
// before that. ctx's deadline is the timeout from its start.
type dnsblLookup struct {
	ctx  context.Context
	done chan struct{}
	ans  dnsblAnswer
}

// wait returns the answer, or a failure once the lookup's timeout or ctx
// ends first (a resolver that ignores its context cannot hold a session).
func (l *dnsblLookup) wait(ctx context.Context) dnsblAnswer {
	select {
	case <-l.done:
		return l.ans
	case <-l.ctx.Done():
	case <-ctx.Done():
	}
	select {
	case <-l.done:
		return l.ans
	default:
		return dnsblAnswer{state: dnsblFailed, err: "no answer within the timeout"}
	}
}

// dnsblCache holds the lookups of the last ttl (failTTL for failures),
// in flight or done, so that sessions share one query per name: the
// session STARTTLS starts, the client's next connection, concurrent
// connections from one address. At most size are kept, the oldest
// dropped first (near enough the first to expire).
type dnsblCache struct {
	mu      sync.Mutex
	size    int
	ttl     time.Duration
	failTTL time.Duration
	now     func() time.Time
	byName  map[string]*list.Element
	order   *list.List // of *dnsblEntry, oldest first
}

type dnsblEntry struct {
	name    string
	lookup  *dnsblLookup
	expires time.Time // zero while in flight
}

// live reports whether e may still be used: a done lookup until it
// expires, one in flight until its deadline (past it, only a resolver
// that ignores its context still holds it, and a new lookup is better).
func (e *dnsblEntry) live(now time.Time) bool {
	if e.expires.IsZero() {
		return e.lookup.ctx.Err() == nil
	}
	return now.Before(e.expires)
}

func newDNSBLCache(size int, ttl, failTTL time.Duration, now func() time.Time) *dnsblCache {
	return &dnsblCache{size: size, ttl: ttl, failTTL: failTTL, now: now, byName: map[string]*list.Element{}, order: list.New()}
}

// get returns the live lookup of name, or the one start makes.
func (c *dnsblCache) get(name string, start func() *dnsblLookup) *dnsblLookup {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byName[name]; ok {
		if e := el.Value.(*dnsblEntry); e.live(c.now()) {
			return e.lookup
		}
		c.remove(el)
	}
	l := start()
	c.byName[name] = c.order.PushBack(&dnsblEntry{name: name, lookup: l})
	for c.order.Len() > c.size {
		c.remove(c.order.Front())
	}
	return l
}

// done keeps l's answer for ttl from now, failTTL if it failed.
func (c *dnsblCache) done(name string, l *dnsblLookup) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byName[name]
	if !ok || el.Value.(*dnsblEntry).lookup != l {
		return // dropped meanwhile
	}
	ttl := c.ttl
	if l.ans.state == dnsblFailed {
		ttl = c.failTTL
	}
	el.Value.(*dnsblEntry).expires = c.now().Add(ttl)
}

func (c *dnsblCache) remove(el *list.Element) {
	delete(c.byName, el.Value.(*dnsblEntry).name)
	c.order.Remove(el)
}
