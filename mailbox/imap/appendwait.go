package imap

import (
	"sync"
	"time"

	"mailgate/mailbox"
)

// appendsInFlight lets a CHECK wait for the APPENDs to its mailbox that
// were under way when it began, so that it reports them. RFC 9051 only
// asks a CHECK to report what was committed before it began; this makes
// CHECK a checkpoint that every session sees alike. Without it, sessions
// that send CHECK at the same moment can count different totals when an
// APPEND from a session that has not selected the mailbox commits
// between their CHECKs: the commit holds the account lock for two
// fsyncs, so an APPEND takes tens of milliseconds on a busy disk and the
// CHECKs queued behind it answer after it while others answered before.
// imaptest's checkpoints (interop TestImaptestCheckpoints) do exactly
// that: they stop the clients that selected the mailbox, let the other
// clients' APPENDs run on, and compare the CHECK answers (TESTING.md).
// An APPEND pipelined behind another command of its connection has not
// begun until that command ends, so it is not waited for.
type appendsInFlight struct {
	mu      sync.Mutex
	next    uint64                         // tickets handed out
	running map[string]map[uint64]struct{} // account NUL folder -> tickets
	changed chan struct{}                  // closed when an APPEND ends
}

// maxCheckWait bounds how long a CHECK waits for APPENDs: a client that
// stalls in the middle of its literal must not hold other sessions'
// CHECKs.
const maxCheckWait = 5 * time.Second

func appendKey(account, folder string) string {
	if canon, err := mailbox.CanonicalFolder(folder); err == nil {
		folder = canon
	}
	return account + "\x00" + folder
}

// begin records an APPEND to account's folder; the returned func ends it
// (once; later calls do nothing).
func (a *appendsInFlight) begin(account, folder string) (end func()) {
	key := appendKey(account, folder)
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.running == nil {
		a.running, a.changed = map[string]map[uint64]struct{}{}, make(chan struct{})
	}
	a.next++
	ticket := a.next
	if a.running[key] == nil {
		a.running[key] = map[uint64]struct{}{}
	}
	a.running[key][ticket] = struct{}{}
	ended := false
	return func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		if ended {
			return
		}
		ended = true
		delete(a.running[key], ticket)
		if len(a.running[key]) == 0 {
			delete(a.running, key)
		}
		close(a.changed)
		a.changed = make(chan struct{})
	}
}

// wait returns once every APPEND to account's folder that had begun
// when wait was called has ended, or after limit.
func (a *appendsInFlight) wait(account, folder string, limit time.Duration) {
	key := appendKey(account, folder)
	timer := time.NewTimer(limit)
	defer timer.Stop()
	a.mu.Lock()
	last := a.next
	for {
		pending := false
		for t := range a.running[key] {
			if t <= last {
				pending = true
				break
			}
		}
		if !pending {
			a.mu.Unlock()
			return
		}
		ch := a.changed
		a.mu.Unlock()
		select {
		case <-ch:
		case <-timer.C:
			return
		}
		a.mu.Lock()
	}
}
