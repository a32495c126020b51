package authlimit

import (
	"errors"
	"testing"
	"time"

	"mailgate/cluster"
)

// fakeShared is a shared store that is either up (everything allowed,
// failures recorded) or down (every call fails).
type fakeShared struct {
	down     bool
	locked   bool
	failures int
}

var errStoreDown = errors.New("store down")

func (f *fakeShared) Refused(ip, user string) (bool, error) {
	if f.down {
		return false, errStoreDown
	}
	return f.locked, nil
}

func (f *fakeShared) Fail(ip, user string) (cluster.FailResult, error) {
	if f.down {
		return cluster.FailResult{}, errStoreDown
	}
	f.failures++
	return cluster.FailResult{Locked: f.locked}, nil
}

func (f *fakeShared) Succeed(ip, user string) error {
	if f.down {
		return errStoreDown
	}
	return nil
}

// TestSharedFailsClosedAfterGrace: the shared store decides while it
// answers; when it fails, this node's records decide for the grace, and
// past it every login is refused until the store answers again.
func TestSharedFailsClosedAfterGrace(t *testing.T) {
	now := time.Unix(1e9, 0)
	f := &fakeShared{}
	l := New(Options{MaxFailures: 3, Window: time.Minute, Lockout: time.Minute, Shared: f,
		Grace: 30 * time.Second, Now: func() time.Time { return now }})

	f.locked = true
	if !l.Refused("192.0.2.1", "bob") {
		t.Fatal("a lockout in the shared store is not honoured")
	}
	f.locked = false
	l.Fail("192.0.2.1", "bob")
	if f.failures != 1 {
		t.Fatalf("failure not recorded in the shared store (%d)", f.failures)
	}

	f.down = true
	if l.Refused("192.0.2.2", "bob") {
		t.Fatal("refused at once when the store failed; want the grace")
	}
	for range 3 {
		l.Fail("192.0.2.3", "")
	}
	if !l.Refused("192.0.2.3", "") {
		t.Error("during the grace, this node's own records do not lock out")
	}
	now = now.Add(31 * time.Second)
	if !l.Refused("192.0.2.2", "bob") {
		t.Fatal("past the grace a login is allowed; want every login refused")
	}
	f.down = false
	if l.Refused("192.0.2.2", "bob") {
		t.Error("the store answers again but logins are still refused")
	}
}
