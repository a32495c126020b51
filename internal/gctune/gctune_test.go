package gctune

import (
	"runtime"
	"runtime/metrics"
	"testing"
	"time"
)

func TestPercent(t *testing.T) {
	const mb = 1 << 20
	for _, tc := range []struct {
		live, headroom uint64
		want           int
	}{
		{2 * mb, 32 * mb, 1600},
		{32 * mb, 32 * mb, 100},
		{100 * mb, 32 * mb, 100},
		{1, 32 * mb, 10000},
		{0, 32 * mb, 10000},
	} {
		if got := Percent(tc.live, tc.headroom); got != tc.want {
			t.Errorf("Percent(%d, %d) = %d, want %d", tc.live, tc.headroom, got, tc.want)
		}
	}
}

// TestStartRaisesGOGC: after a collection, a process with a small live
// heap runs with a GOGC that leaves the headroom (read back from the
// runtime's own metric). Not parallel: it changes the process's GOGC.
func TestStartRaisesGOGC(t *testing.T) {
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	Start(32 << 20)
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	for i := 0; i < 20; i++ { // the finalizer runs soon after a cycle, on its own goroutine
		runtime.GC()
		runtime.Gosched()
		metrics.Read(s)
		if s[0].Value.Uint64() > 100 {
			return
		}
	}
	t.Fatalf("GOGC is %d after 20 collections, want it raised above 100", s[0].Value.Uint64())
}

// TestReleaserCoalesces: calls while a release waits schedule no other,
// and a call after it ran schedules the next one.
func TestReleaserCoalesces(t *testing.T) {
	r := NewReleaser(time.Hour)
	r.Soon()
	if !r.armed.Load() {
		t.Fatal("Soon scheduled nothing")
	}
	r.Soon() // coalesced: still the one timer
	var nilR *Releaser
	nilR.Soon() // a nil Releaser is allowed and does nothing
	r2 := NewReleaser(time.Millisecond)
	r2.Soon()
	for i := 0; r2.armed.Load(); i++ {
		if i > 10000 {
			t.Fatal("the release never ran")
		}
		time.Sleep(time.Millisecond)
	}
	r2.Soon()
	if !r2.armed.Load() {
		t.Error("a call after the release ran scheduled nothing")
	}
}
