package faults

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"mailgate/internal/smtptest"
)

// killRounds is how many times the server is killed in one test run;
// `go test -run SIGKILL -count=N` tries more.
func killRounds() int {
	if n, err := strconv.Atoi(os.Getenv("MAILGATE_KILL_ROUNDS")); err == nil && n > 0 {
		return n
	}
	if testing.Short() {
		return 3
	}
	return 15
}

// ledger records what the clients were told.
type ledger struct {
	mu    sync.Mutex
	acked map[string]string // token -> queue ID, for every 250
	sent  map[string]bool   // every token whose DATA was started
}

// burstRound runs clients submitting until the server dies; kill is
// called once at least minAcks messages were acknowledged in this round,
// after a further random delay.
func (l *ledger) burstRound(t *testing.T, w *sinkWorld, round, clients int, kill func()) int {
	acks := make(chan struct{}, 10000)
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl, err := dialSubmission(w.srv)
			if err != nil {
				return
			}
			defer cl.Close()
			for i := 0; i < 2000; i++ {
				token := fmt.Sprintf("k%d-c%d-%d", round, c, i)
				l.mu.Lock()
				l.sent[token] = true
				l.mu.Unlock()
				id, err := sendOne(cl, sinkRcp, faultMessage(token, 20+(i*7)%400))
				if err != nil {
					return
				}
				l.mu.Lock()
				l.acked[token] = id
				l.mu.Unlock()
				acks <- struct{}{}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	minAcks := 1 + rand.IntN(30)
	n := 0
	for n < minAcks {
		select {
		case <-acks:
			n++
		case <-done:
			t.Fatalf("round %d: clients stopped after %d acks, before the kill", round, n)
		}
	}
	// A random moment: somewhere inside the next few messages' writes.
	time.Sleep(time.Duration(rand.IntN(20000)) * time.Microsecond)
	kill()
	<-done
	return n
}

// TestSIGKILLDuringBurst kills mailgate at random moments while clients
// submit, many times, restarting it on the same data directory each
// time. The sink tempfails every delivery meanwhile, so nothing leaves;
// then it accepts, and every message that got 250 must arrive exactly
// once, byte for byte; a message that was sent but not acknowledged may
// arrive at most once.
func TestSIGKILLDuringBurst(t *testing.T) {
	t.Parallel()
	w := startSinkWorld(t, smtptest.Config{DataReplies: []string{"451 4.3.0 not yet"}}, "")
	l := &ledger{acked: map[string]string{}, sent: map[string]bool{}}
	rounds := killRounds()
	for r := range rounds {
		l.burstRound(t, w, r, 4, w.srv.Kill)
		w.srv.Restart()
	}
	w.sink.Update(func(c *smtptest.Config) { c.DataReplies = []string{"250 2.0.0 OK"} })
	if out, code := w.srv.Run("", "queue", "flush", "-config", w.srv.ConfigPath); code != 0 {
		t.Fatalf("queue flush: %s", out)
	}
	waitQueueEmpty(t, w.srv)
	got := tokens(w.sink.Messages())
	lost, dup, extra := 0, 0, 0
	for token := range l.acked {
		switch got[token] {
		case 0:
			lost++
			t.Errorf("acknowledged message %s (queue ID %s) never arrived", token, l.acked[token])
		case 1:
		default:
			dup++
			t.Errorf("acknowledged message %s arrived %d times", token, got[token])
		}
	}
	for token, n := range got {
		if _, ok := l.acked[token]; ok {
			continue
		}
		if !l.sent[token] || n > 1 {
			t.Errorf("unacknowledged message %s arrived %d times (sent: %v)", token, n, l.sent[token])
		}
		extra++
	}
	checkIntact(t, w.sink.Messages())
	report(t, "kills=%d acknowledged=%d lost=%d duplicates=%d unacknowledged-but-delivered=%d",
		rounds, len(l.acked), lost, dup, extra)
}

// TestSIGKILLDuringDelivery kills mailgate while it both accepts and
// delivers to a sink that accepts at once. Nothing acknowledged may be
// lost; a duplicate is possible only when a kill falls between the
// sink's 250 and mailgate's record of it, so there can be no more
// duplicates than deliveries in flight at the kills.
func TestSIGKILLDuringDelivery(t *testing.T) {
	t.Parallel()
	const perDest = 4
	// fastRetry ends with the queue block, so this line extends it.
	w := startSinkWorld(t, smtptest.Config{}, fmt.Sprintf("  per_destination: %d\n", perDest))
	l := &ledger{acked: map[string]string{}, sent: map[string]bool{}}
	rounds := killRounds()
	for r := range rounds {
		l.burstRound(t, w, r, 4, w.srv.Kill)
		w.srv.Restart()
	}
	waitQueueEmpty(t, w.srv)
	got := tokens(w.sink.Messages())
	lost, dup := 0, 0
	for token, id := range l.acked {
		if got[token] == 0 {
			lost++
			t.Errorf("acknowledged message %s (queue ID %s) never arrived", token, id)
		}
		if got[token] > 1 {
			dup += got[token] - 1
		}
	}
	// At most perDest deliveries are in flight at each kill.
	if dup > rounds*perDest {
		t.Errorf("%d duplicates after %d kills: more than the deliveries that can be in flight", dup, rounds)
	}
	checkIntact(t, w.sink.Messages())
	report(t, "kills=%d acknowledged=%d lost=%d duplicates=%d (allowed: kill between remote 250 and its record)",
		rounds, len(l.acked), lost, dup)
}

// checkIntact rebuilds each delivered message from its token and checks
// that the sink got exactly it, after the trace headers mailgate adds.
func checkIntact(t *testing.T, msgs []smtptest.Message) {
	t.Helper()
	for _, m := range msgs {
		tok := tokenRE.FindSubmatch(m.Raw)
		if tok == nil {
			t.Errorf("sink got a message without a token:\n%.300s", m.Raw)
			continue
		}
		var round, client, i int
		if _, err := fmt.Sscanf(string(tok[1]), "k%d-c%d-%d", &round, &client, &i); err != nil {
			continue // another test's token shape
		}
		want := faultMessage(string(tok[1]), 20+(i*7)%400)
		body := string(dotUnstuff(m.Raw))
		if len(body) < len(want) || body[len(body)-len(want):] != want {
			t.Errorf("message %s arrived damaged (%d bytes, want suffix of %d)", tok[1], len(body), len(want))
		}
	}
}
