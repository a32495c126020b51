package queue

import (
	"context"
	"testing"
	"time"
)

// TestByteBudgetFIFO: a request for the whole budget waits for the
// holders to finish, and a small one that would fit meanwhile waits
// behind it instead of starving it; a waiter that gives up passes its
// turn on.
func TestByteBudgetFIFO(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := newByteBudget(64)
	if err := b.acquire(ctx, 40); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 3)
	take := func(name string, n int64) {
		if err := b.acquire(ctx, n); err == nil {
			got <- name
		}
	}
	go take("whole", 100) // more than the budget: runs alone
	waitWaiters(t, b, 1)
	go take("small", 10)
	waitWaiters(t, b, 2)
	gaveUp, cancel := context.WithCancel(ctx)
	go func() {
		if err := b.acquire(gaveUp, 1); err == nil {
			got <- "cancelled one"
		}
	}()
	waitWaiters(t, b, 3)
	cancel()
	go take("last", 1)
	select {
	case name := <-got:
		t.Fatalf("%s ran while 40 of 64 bytes were held by the first", name)
	case <-time.After(50 * time.Millisecond):
	}
	b.release(40)
	if name := <-got; name != "whole" {
		t.Fatalf("%s ran first, want the whole-budget request at the head of the line", name)
	}
	b.release(100)
	for _, want := range []string{"small", "last"} {
		if name := <-got; name != want {
			t.Fatalf("%s ran, want %s", name, want)
		}
	}
}

// waitWaiters waits until n tickets have been taken.
func waitWaiters(t *testing.T, b *byteBudget, n uint64) {
	t.Helper()
	for i := 0; i < 10000; i++ {
		b.mu.Lock()
		waiting := b.next - b.head
		b.mu.Unlock()
		if waiting >= n {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("fewer than %d waiters", n)
}
