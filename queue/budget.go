package queue

import (
	"context"
	"sync"
)

// coldBudget bounds the bytes of spooled messages read back into memory
// at once for delivery attempts (delivery takes a message as one slice).
// Twenty 24 MB messages due together would otherwise hold 480 MB; past
// the budget an attempt waits for one in flight to end. A message larger
// than the budget runs alone.
const coldBudget = 64 << 20

// byteBudget is a counting semaphore over bytes.
type byteBudget struct {
	max   int64
	mu    sync.Mutex
	used  int64
	freed chan struct{} // closed at each release, then replaced
}

func newByteBudget(max int64) *byteBudget {
	return &byteBudget{max: max, freed: make(chan struct{})}
}

// acquire takes n bytes (at most the whole budget), waiting while others
// hold too much; it fails only when ctx ends.
func (b *byteBudget) acquire(ctx context.Context, n int64) error {
	n = min(n, b.max)
	for {
		b.mu.Lock()
		if b.used == 0 || b.used+n <= b.max {
			b.used += n
			b.mu.Unlock()
			return nil
		}
		ch := b.freed
		b.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// release gives back what acquire(n) took.
func (b *byteBudget) release(n int64) {
	b.mu.Lock()
	b.used -= min(n, b.max)
	close(b.freed)
	b.freed = make(chan struct{})
	b.mu.Unlock()
}
