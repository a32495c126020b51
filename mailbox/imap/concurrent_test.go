package imap

import (
	"context"
	"sync"
	"testing"
	"time"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// events collects what a client is told without asking.
type events struct {
	mu       sync.Mutex
	expunged []uint32
	flags    map[uint32]string
	exists   uint32
	changed  chan struct{}
}

func newEvents() *events {
	return &events{flags: map[uint32]string{}, changed: make(chan struct{}, 100)}
}

func (e *events) handler() *imapclient.UnilateralDataHandler {
	note := func() { e.changed <- struct{}{} }
	return &imapclient.UnilateralDataHandler{
		Expunge: func(seq uint32) { e.mu.Lock(); e.expunged = append(e.expunged, seq); e.mu.Unlock(); note() },
		Fetch: func(msg *imapclient.FetchMessageData) {
			buf, _ := msg.Collect()
			e.mu.Lock()
			if buf != nil {
				e.flags[buf.SeqNum] = flagStrings(buf.Flags)
			}
			e.mu.Unlock()
			note()
		},
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				e.mu.Lock()
				e.exists = *d.NumMessages
				e.mu.Unlock()
				note()
			}
		},
	}
}

// wait blocks until cond holds, re-checking after each notification.
func (e *events) wait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		e.mu.Lock()
		ok := cond()
		e.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-e.changed:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func TestTwoSessionsSeeEachOther(t *testing.T) {
	t.Parallel()
	env := startServer(t, nil)
	for i := 0; i < 3; i++ {
		env.store.Deliver(context.Background(), alice, "", []byte("Subject: m\r\n\r\nbody\r\n"), false)
	}
	a := env.login(t, nil)
	ev := newEvents()
	b := env.login(t, ev.handler())
	for _, c := range []*imapclient.Client{a, b} {
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Store(goimap.SeqSetNum(2), &goimap.StoreFlags{Op: goimap.StoreFlagsAdd, Flags: []goimap.Flag{goimap.FlagFlagged, goimap.FlagDeleted}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	ev.wait(t, "FETCH FLAGS in session B", func() bool { return ev.flags[2] == `\Deleted \Flagged` })
	if _, err := a.Expunge().Collect(); err != nil {
		t.Fatal(err)
	}
	// FETCH must not report an expunge (RFC 9051 7.5.1); NOOP then does.
	b.Fetch(goimap.SeqSetNum(1), &goimap.FetchOptions{UID: true}).Close()
	ev.mu.Lock()
	early := len(ev.expunged)
	ev.mu.Unlock()
	if early != 0 {
		t.Errorf("EXPUNGE sent during FETCH")
	}
	b.Noop().Wait()
	ev.wait(t, "EXPUNGE in session B", func() bool { return len(ev.expunged) == 1 && ev.expunged[0] == 2 })
	msgs, err := b.Fetch(goimap.SeqSetNum(2), &goimap.FetchOptions{UID: true}).Collect()
	if err != nil || len(msgs) != 1 || msgs[0].UID != 3 {
		t.Errorf("session B's message 2 after the expunge: %+v, %v (want UID 3)", msgs, err)
	}
}

func TestIdleWokenByDelivery(t *testing.T) {
	t.Parallel()
	env := startServer(t, nil)
	ev := newEvents()
	c := env.login(t, ev.handler())
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	idle, err := c.Idle()
	if err != nil {
		t.Fatal(err)
	}
	if err := env.store.Deliver(context.Background(), alice, "", []byte("Subject: hi\r\n\r\nx\r\n"), false); err != nil {
		t.Fatal(err)
	}
	ev.wait(t, "* 1 EXISTS during IDLE", func() bool { return ev.exists == 1 })
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Errorf("IDLE: %v", err)
	}
}
