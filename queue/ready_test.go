package queue

import (
	"fmt"
	"testing"
	"time"

	"mailgate/internal/mailmsg"
)

func readyQueue(perDest int) *Queue {
	return &Queue{opts: Options{PerDestination: perDest, MaxConcurrent: 100}, ready: newReadySet(),
		msgs: map[string]*message{}, perDomain: map[string]int{}, db: newIndex()}
}

func queued(q *Queue, id string, rcpts ...string) *message {
	env := &mailmsg.Envelope{ID: id}
	for _, r := range rcpts {
		env.Recipients = append(env.Recipients, mailmsg.Recipient{Addr: r})
	}
	m := &message{env: env, st: newMsgState(env), inFlight: map[int]bool{}}
	q.msgs[id] = m
	q.indexMessage(m)
	return m
}

func describe(jobs []*job) map[string]string {
	out := map[string]string{}
	for _, j := range jobs {
		out[j.msg.env.ID+" "+j.domain] = fmt.Sprint(j.idx)
	}
	return out
}

// A message's recipients in one domain make one job; a destination at
// its cap starts nothing while another destination still gets its job;
// a recipient indexed twice is started once.
func TestTakeDue(t *testing.T) {
	t.Parallel()
	q := readyQueue(2)
	now := time.Now()
	a := queued(q, "a", "x@one.test", "y@one.test", "z@two.test")
	queued(q, "b", "x@one.test")
	queued(q, "c", "x@one.test")
	q.indexMessage(a) // pushed twice while waiting
	q.perDomain["one.test"] = 1
	jobs, next := q.takeDue(now, 10)
	got := describe(jobs)
	want := map[string]string{"a one.test": "[0 1]", "a two.test": "[2]"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("first pass started %v, want %v", got, want)
	}
	if !next.IsZero() {
		t.Errorf("next = %v; want none (one.test waits for a result)", next)
	}
	q.perDomain["one.test"] = 1 // a's job finished, the other one still runs
	jobs, _ = q.takeDue(now, 10)
	if got := describe(jobs); fmt.Sprint(got) != fmt.Sprint(map[string]string{"b one.test": "[0]"}) {
		t.Errorf("second pass started %v, want b only (oldest first, one slot)", got)
	}
	q.perDomain["one.test"] = 0
	jobs, _ = q.takeDue(now, 10)
	if got := describe(jobs); fmt.Sprint(got) != fmt.Sprint(map[string]string{"c one.test": "[0]"}) {
		t.Errorf("third pass started %v, want c only (a's second items are taken)", got)
	}
	if h := q.ready.byDomain["one.test"]; h != nil {
		t.Errorf("%d stale items left for one.test", h.Len())
	}
}

// A deferred recipient waits for its time and is reported as the next
// wake-up; a held message is not started.
func TestTakeDueWaitsForRetryTime(t *testing.T) {
	t.Parallel()
	q := readyQueue(20)
	now := time.Now()
	m := queued(q, "d", "x@one.test")
	m.st.Recipients[0].State = StateDeferred
	m.st.Recipients[0].NextAttempt = now.Add(time.Minute)
	q.indexMessage(m)
	h := queued(q, "h", "x@two.test")
	h.st.Held = true
	q.indexMessage(h)
	jobs, next := q.takeDue(now, 10)
	if len(jobs) != 0 || !next.Equal(now.Add(time.Minute)) {
		t.Errorf("got %v jobs, next %v; want none until %v", describe(jobs), next, now.Add(time.Minute))
	}
	jobs, _ = q.takeDue(now.Add(time.Minute), 10)
	if got := describe(jobs); fmt.Sprint(got) != fmt.Sprint(map[string]string{"d one.test": "[0]"}) {
		t.Errorf("at its time: %v", got)
	}
}
