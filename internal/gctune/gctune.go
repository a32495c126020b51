// Package gctune keeps the Go heap goal at least a fixed headroom above
// the live heap. While mailgate relays, its live heap is a few megabytes,
// so with the default GOGC=100 the collector ran every 2-3 MB of
// allocation: 50 collections a second at 2,700 messages/s, each waking
// worker threads on a two-core machine. With a headroom of 32 MiB the
// heap goal is max(2 × live, live + 32 MiB): the same as GOGC=100 once
// the live heap passes 32 MiB (an IMAP header cache, a long queue), and
// about sixteen times fewer collections below it.
package gctune

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
	"time"
)

// Start keeps the heap goal at least headroom bytes above the live heap,
// adjusting GOGC after every collection. It does nothing when the
// operator set GOGC or GOMEMLIMIT in the environment: theirs is the
// word.
func Start(headroom uint64) {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	t := &tuner{headroom: headroom, sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}, last: 100}
	t.arm()
}

type tuner struct {
	headroom uint64
	sample   []metrics.Sample
	last     int
}

// arm sets a finalizer on a new object, which runs after the next
// collection that finds it unreachable: once per cycle.
func (t *tuner) arm() {
	runtime.SetFinalizer(&sentinel{t: t}, func(s *sentinel) {
		s.t.tune()
		s.t.arm()
	})
}

type sentinel struct {
	t *tuner
	_ [16]byte // a zero-size object may never be collected
}

func (t *tuner) tune() {
	metrics.Read(t.sample)
	if t.sample[0].Value.Kind() != metrics.KindUint64 {
		return
	}
	if p := Percent(t.sample[0].Value.Uint64(), t.headroom); p != t.last {
		debug.SetGCPercent(p)
		t.last = p
	}
}

// Percent is the GOGC that puts the heap goal at max(2 × live, live +
// headroom), capped at 10,000 (a nearly empty heap).
func Percent(live, headroom uint64) int {
	if live == 0 {
		return 10000
	}
	p := headroom * 100 / live
	return int(min(max(p, 100), 10000))
}

// Releaser hands memory back to the operating system soon after large
// messages are done with: their buffers leave the heap goal high, and
// without new allocations no collection would lower it (the runtime
// forces one only every two minutes), so RSS stayed at its peak. Soon
// coalesces calls: one debug.FreeOSMemory a second at most, always one
// after the last call.
type Releaser struct {
	delay time.Duration
	armed atomic.Bool
}

// NewReleaser returns a Releaser that frees memory delay after a call.
func NewReleaser(delay time.Duration) *Releaser { return &Releaser{delay: delay} }

// Soon schedules a release unless one is already waiting. A nil Releaser
// does nothing.
func (r *Releaser) Soon() {
	if r == nil || r.armed.Swap(true) {
		return
	}
	time.AfterFunc(r.delay, func() {
		r.armed.Store(false)
		// Two collections: what sync.Pools held (message chunks, read
		// buffers) survives the first in their victim caches.
		runtime.GC()
		debug.FreeOSMemory()
	})
}
