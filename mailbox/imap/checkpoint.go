package imap

import (
	"sync"
	"time"

	"mailgate/mailbox"
)

// checkpoints makes CHECK a checkpoint that every session sees alike:
// while sessions CHECK a mailbox, APPENDs to it wait before they commit,
// and a CHECK waits for the APPEND commits already under way. So
// sessions that send CHECK at the same moment all report the same
// messages, even while sessions that have not selected the mailbox go on
// appending to it. RFC 9051 allows either answer to a CHECK that races a
// commit; imaptest's checkpoints (interop TestImaptestCheckpoints) stop
// the clients that selected the mailbox, let the others' APPENDs run on,
// send every selected client CHECK and compare the answers (TESTING.md,
// "What the checkpoint errors were").
//
// Per mailbox, under mu: a CHECK counts itself in checks as soon as it
// arrives, waits until committing is 0, polls, and leaves; an APPEND
// that has read its messages waits until checks is 0 and the last CHECK
// left at least linger ago, then counts itself in committing for the
// commit. A waiting CHECK stops new commits, so committing only falls
// while it waits; neither side waits on the other in a cycle. Both
// waits are bounded, so a stalled peer only delays.
type checkpoints struct {
	mu      sync.Mutex
	boxes   map[string]*checkpointBox
	changed chan struct{} // closed and replaced when a count falls
}

type checkpointBox struct {
	checks, committing int
	lastCheck          time.Time // when the last CHECK left
}

const (
	// linger keeps APPENDs waiting a little after the last CHECK of a
	// burst left, for the sessions whose CHECK is read a moment later.
	linger = 100 * time.Millisecond
	// maxCheckWait bounds a CHECK's wait for commits under way.
	maxCheckWait = 5 * time.Second
	// maxHold bounds an APPEND's wait for CHECKs, so that sessions
	// sending CHECK without pause cannot keep mail out.
	maxHold = 2 * time.Second
)

func checkpointKey(account, folder string) string {
	if canon, err := mailbox.CanonicalFolder(folder); err == nil {
		folder = canon
	}
	return account + "\x00" + folder
}

// box returns key's counters, made on first use; mu is held.
func (p *checkpoints) box(key string) *checkpointBox {
	if p.boxes == nil {
		p.boxes, p.changed = map[string]*checkpointBox{}, make(chan struct{})
	}
	b := p.boxes[key]
	if b == nil {
		b = &checkpointBox{}
		p.boxes[key] = b
	}
	return b
}

// wake tells waiters a count fell and forgets boxes no one needs; mu is
// held.
func (p *checkpoints) wake(key string, b *checkpointBox) {
	close(p.changed)
	p.changed = make(chan struct{})
	if b.checks == 0 && b.committing == 0 && time.Since(b.lastCheck) >= linger {
		delete(p.boxes, key)
	}
}

// waitUntil waits, with mu held, until ready or the deadline; it
// re-checks ready after every change and, when ready is false only for
// the time being, at retry.
func (p *checkpoints) waitUntil(ready func() (bool, time.Duration), deadline time.Time) {
	for {
		ok, retry := ready()
		left := time.Until(deadline)
		if ok || left <= 0 {
			return
		}
		if retry <= 0 || retry > left {
			retry = left
		}
		ch := p.changed
		p.mu.Unlock()
		t := time.NewTimer(retry)
		select {
		case <-ch:
		case <-t.C:
		}
		t.Stop()
		p.mu.Lock()
	}
}

// check begins a CHECK of account's folder: it returns once the APPEND
// commits under way have ended (or after maxCheckWait); the returned
// func, called after the CHECK's poll, ends it.
func (p *checkpoints) check(account, folder string) (end func()) {
	key := checkpointKey(account, folder)
	p.mu.Lock()
	defer p.mu.Unlock()
	b := p.box(key)
	b.checks++
	p.waitUntil(func() (bool, time.Duration) { return b.committing == 0, 0 }, time.Now().Add(maxCheckWait))
	return p.ender(key, b, func() { b.checks--; b.lastCheck = time.Now() })
}

// commit waits until no CHECK of account's folder is under way or just
// ended (or maxHold passed), then counts an APPEND's commit; the returned
// func, called once the commit is done, ends it.
func (p *checkpoints) commit(account, folder string) (done func()) {
	key := checkpointKey(account, folder)
	p.mu.Lock()
	defer p.mu.Unlock()
	// The box is looked up again after each wake: wake forgets a box
	// with nothing counted, and this APPEND is not counted yet.
	p.waitUntil(func() (bool, time.Duration) {
		b := p.box(key)
		if b.checks > 0 {
			return false, 0
		}
		quiet := linger - time.Since(b.lastCheck)
		return quiet <= 0, quiet
	}, time.Now().Add(maxHold))
	b := p.box(key)
	b.committing++
	return p.ender(key, b, func() { b.committing-- })
}

// ender returns the func that ends a CHECK or a commit: once, under mu,
// it undoes the count (change) and wakes the waiters.
func (p *checkpoints) ender(key string, b *checkpointBox, change func()) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			p.mu.Lock()
			defer p.mu.Unlock()
			change()
			p.wake(key, b)
		})
	}
}
