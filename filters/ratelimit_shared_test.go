package filters

import (
	"errors"
	"testing"
	"time"

	"mailgate/cluster"
)

// fakeBuckets is a shared store that answers with over, or fails.
type fakeBuckets struct {
	over  int
	err   error
	taken [][]cluster.Bucket
}

func (f *fakeBuckets) Take(bs []cluster.Bucket) (int, error) {
	f.taken = append(f.taken, bs)
	return f.over, f.err
}

func (f *fakeBuckets) Has(b cluster.Bucket) (bool, error) { return f.over < 0, f.err }

// TestSharedBuckets: with a shared store its answer decides, and the
// wants without a limit are not sent; when it fails, this node's own
// buckets decide (fail open to per-node limits).
func TestSharedBuckets(t *testing.T) {
	rl := NewRateLimits(RateLimitConfig{}, newClock().Now)
	f := &fakeBuckets{over: 1}
	rl.Share(f)
	wants := []want{
		{key: "a", limit: 0, period: time.Minute, n: 1},
		{key: "b", limit: 2, period: time.Minute, n: 1},
		{key: "c", limit: 2, period: time.Minute, n: 1},
	}
	if w := rl.take(wants); w == nil || w.key != "c" {
		t.Fatalf("take = %+v; want the shared store's second bucket, c", w)
	}
	if got := f.taken[0]; len(got) != 2 || got[0].Key != "b" || got[0].Limit != 2 || got[0].Period != time.Minute {
		t.Errorf("sent %+v; want b and c only", got)
	}
	f.err = errors.New("redis down")
	for i := range 2 {
		if w := rl.take(wants[1:2]); w != nil {
			t.Fatalf("local take %d refused with the store down", i+1)
		}
	}
	if w := rl.take(wants[1:2]); w == nil {
		t.Error("the node's own bucket (limit 2) admitted a third with the store down")
	}
}
