package queue

import (
	"context"
	"sync"
)

// coldBudget bounds the bytes of large messages (largeMessage and up)
// read back from the spool into memory at once for delivery attempts:
// delivery takes a message as one slice, and twenty 24 MB messages due
// together would otherwise hold 480 MB. Past the budget an attempt waits
// its turn; a message larger than the whole budget runs alone. Smaller
// messages do not wait: they are most of the mail, and a retry of one
// must not queue behind a large message going to a slow remote.
const coldBudget = 64 << 20

// byteBudget is a first-come, first-served counting semaphore over bytes:
// a large request at the head of the line is not starved by small ones
// slipping past it.
type byteBudget struct {
	max   int64
	mu    sync.Mutex
	used  int64
	next  uint64          // the ticket the next caller takes
	head  uint64          // the ticket whose turn it is
	gone  map[uint64]bool // tickets given up while waiting (ctx ended)
	freed chan struct{}   // closed when used falls or head moves, then replaced
}

func newByteBudget(max int64) *byteBudget {
	return &byteBudget{max: max, gone: map[uint64]bool{}, freed: make(chan struct{})}
}

// acquire takes n bytes (at most the whole budget) once it is this
// caller's turn and they fit; it fails only when ctx ends.
func (b *byteBudget) acquire(ctx context.Context, n int64) error {
	n = min(n, b.max)
	b.mu.Lock()
	t := b.next
	b.next++
	for {
		if t == b.head && (b.used == 0 || b.used+n <= b.max) {
			b.used += n
			b.advance()
			b.mu.Unlock()
			return nil
		}
		ch := b.freed
		b.mu.Unlock()
		select {
		case <-ch:
			b.mu.Lock()
		case <-ctx.Done():
			b.mu.Lock()
			if t == b.head {
				b.advance()
			} else {
				b.gone[t] = true
			}
			b.mu.Unlock()
			return ctx.Err()
		}
	}
}

// advance passes the turn to the next ticket still waiting and wakes the
// waiters; b.mu is held.
func (b *byteBudget) advance() {
	b.head++
	for b.gone[b.head] {
		delete(b.gone, b.head)
		b.head++
	}
	b.wake()
}

func (b *byteBudget) wake() {
	close(b.freed)
	b.freed = make(chan struct{})
}

// release gives back what acquire(n) took.
func (b *byteBudget) release(n int64) {
	b.mu.Lock()
	b.used -= min(n, b.max)
	b.wake()
	b.mu.Unlock()
}
