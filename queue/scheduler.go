package queue

import (
	"context"
	"errors"
	"time"

	"mailgate/internal/mailmsg"
)

// Deliverer is how the queue sees delivery: one method, per message and
// destination domain.
type Deliverer interface {
	Deliver(ctx context.Context, req *mailmsg.Attempt) []mailmsg.Result
}

// job is one delivery attempt: a message's due recipients in one domain.
type job struct {
	msg    *message
	domain string
	idx    []int
	raw    []byte // the message in memory (message.raw), or nil: read the spool
}

type jobResult struct {
	job     *job
	results []mailmsg.Result
	err     error // reading the spool failed
}

// run is the one scheduler loop (STYLE 13): it starts due jobs within the
// concurrency caps, and sleeps until new mail, a result, or the next due
// time — never a goroutine per message.
func (q *Queue) run(ctx context.Context) {
	defer close(q.stopped)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		next := q.dispatch(ctx)
		wait := time.Hour
		if !next.IsZero() {
			wait = max(next.Sub(q.now()), time.Millisecond)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			q.drainResults()
			return
		case <-q.wake:
		case <-timer.C:
		case r := <-q.results:
			q.finish(r)
		}
	}
}

// dispatch starts every due job that fits under the caps and returns when
// the next recipient becomes due. Jobs left waiting for a free slot start
// when a result wakes the loop.
func (q *Queue) dispatch(ctx context.Context) time.Time {
	q.mu.Lock()
	defer q.mu.Unlock()
	free := q.opts.MaxConcurrent - q.inFlight
	if free <= 0 {
		return time.Time{} // a result will wake the loop
	}
	jobs, next := q.takeDue(q.now(), free)
	for _, j := range jobs {
		q.start(ctx, j)
	}
	return next
}

// start records the attempt (and the retry time should we crash during
// it) on disk, then runs the delivery in a worker.
//
// The first attempt of a message accepted by this process is the
// exception: the spool file written at acceptance already says "pending,
// try at once", and that is what a crash during the first attempt leads
// to after the restart — the same retry the record would have scheduled
// no sooner than FirstRetry. Recovered messages are not fresh, so the
// retry after a crash is recorded before it runs and a message that
// crashes the server is not retried in a loop. Skipping this record
// saves creating <id>.state and one fdatasync per delivered message.
func (q *Queue) start(ctx context.Context, j *job) {
	m := j.msg
	now := q.now()
	record := !m.fresh
	saved := make([]RcptState, len(j.idx))
	for k, i := range j.idx {
		r := &m.st.Recipients[i]
		saved[k] = *r
		record = record || r.Attempts > 0
		r.Attempts++
		r.NextAttempt = q.retryAt(m, now, r.Attempts)
		m.inFlight[i] = true
	}
	if record {
		if err := q.saveState(m); err != nil {
			// Not tried: undo the count and look again in a second.
			q.log.Error("cannot record delivery attempt; will retry", "msgid", m.env.ID, "err", err)
			for k, i := range j.idx {
				m.st.Recipients[i] = saved[k]
				m.st.Recipients[i].NextAttempt = now.Add(time.Second)
				delete(m.inFlight, i)
			}
			q.indexMessage(m)
			return
		}
	}
	// No index write: an attempt changes no indexed field, and the
	// message's other recipients are still waiting in the ready set.
	j.raw = m.raw
	q.inFlight++
	q.perDomain[j.domain]++
	go q.work(ctx, j)
}

// retryAt is when to try again should the attempt starting now fail
// temporarily: after the backoff, but never after the message's give-up
// time (arrival + max_age, the Will-Retry-Until its delay warning
// stated), so that the last attempt, and the bounce when it fails, come
// at that time and not one backoff interval later.
func (q *Queue) retryAt(m *message, now time.Time, attempts int) time.Time {
	next := now.Add(backoff(attempts, q.opts.FirstRetry, q.opts.MaxRetryInterval))
	end := m.env.Received.Add(q.opts.MaxAge)
	switch {
	case !next.After(end):
		return next
	case end.After(now):
		return end
	}
	return now
}

func (q *Queue) work(ctx context.Context, j *job) {
	env, raw, err := j.msg.env, j.raw, error(nil)
	if raw == nil && j.msg.size >= largeMessage {
		if err = q.cold.acquire(ctx, j.msg.size); err == nil {
			defer q.releaseCold(j.msg.size)
			env, raw, err = q.spool.ReadMessage(j.msg.env.ID)
		}
	} else if raw == nil {
		env, raw, err = q.spool.ReadMessage(j.msg.env.ID)
	}
	r := jobResult{job: j, err: err}
	if err == nil {
		r.results = q.opts.Deliverer.Deliver(ctx, q.request(env, raw, j.idx))
	}
	q.results <- r
}

// releaseCold gives back a large message's share of the budget, and its
// memory to the system.
func (q *Queue) releaseCold(size int64) {
	q.cold.release(size)
	if q.opts.Release != nil {
		q.opts.Release()
	}
}

// largeMessage is the size from which reading a message back costs enough
// memory to count against coldBudget and to hand back at once.
const largeMessage = 1 << 20

func (q *Queue) request(env *mailmsg.Envelope, raw []byte, idx []int) *mailmsg.Attempt {
	a := &mailmsg.Attempt{Envelope: env, Body: raw}
	if env.EnvID == "" && env.Account != "" && !env.Bounce && q.opts.EnvelopeID != nil {
		// An ENVID of our own, so a late bounce names this message; the
		// queue's envelope is shared with readers, so the attempt gets a copy.
		own := *env
		own.EnvID = q.opts.EnvelopeID(env.ID)
		a.Envelope = &own
	}
	for _, i := range idx {
		a.Recipients = append(a.Recipients, env.Recipients[i])
	}
	return a
}

// drainResults waits for workers still running at shutdown and records
// their results, so a delivered recipient is not delivered again.
func (q *Queue) drainResults() {
	for {
		q.mu.Lock()
		n := q.inFlight
		q.mu.Unlock()
		if n == 0 {
			return
		}
		q.finish(<-q.results)
	}
}

// finish records a job's outcome the moment it is known.
func (q *Queue) finish(r jobResult) {
	q.mu.Lock()
	defer q.mu.Unlock()
	j, m := r.job, r.job.msg
	q.inFlight--
	if q.perDomain[j.domain]--; q.perDomain[j.domain] <= 0 {
		delete(q.perDomain, j.domain)
	}
	for _, i := range j.idx {
		delete(m.inFlight, i)
	}
	q.dropRaw(m) // later attempts read the spool: deferred mail may wait for days
	if m.deleted {
		return
	}
	now := q.now()
	for k, i := range j.idx {
		var res mailmsg.Result
		if r.err != nil {
			res.Err = &mailmsg.Error{Code: 451, Enhanced: "4.3.0", Command: mailmsg.CmdLocal, Reason: "spool read failed", Err: r.err}
		} else if k < len(r.results) {
			res = r.results[k]
		}
		q.recordResult(m, i, res, now)
	}
	q.settle(m, now)
	if q.settled != nil {
		q.settled <- m.env.ID
	}
}

// recordResult applies one recipient's outcome.
func (q *Queue) recordResult(m *message, i int, res mailmsg.Result, now time.Time) {
	r, err := &m.st.Recipients[i], res.Err
	log := q.log.With("msgid", m.env.ID, "rcpt", m.env.Recipients[i].Addr, "attempt", r.Attempts)
	if err == nil {
		r.State, r.Status, r.LastError = StateDelivered, "2.0.0", ""
		r.Relayed, r.DSNPassed, r.Reply = res.Relayed, res.NextHopDSN, mailmsg.Clean(res.Reply)
		r.record(now, StateDelivered, "")
		q.metrics.deliveryLatency.Observe(now.Sub(m.env.Received).Seconds())
		log.Info("delivered")
		q.tell(m, i, r.State, "")
		return
	}
	var de *mailmsg.Error
	if !errors.As(err, &de) {
		de = &mailmsg.Error{Code: 451, Enhanced: "4.3.0", Reason: err.Error()}
	}
	r.LastError, r.Status, r.RemoteMTA = mailmsg.Clean(de.Diagnostic()), de.Enhanced, de.RemoteMTA
	expired := now.Sub(m.env.Received) >= q.opts.MaxAge
	switch {
	case de.Permanent:
		r.State = StateBounced
		r.record(now, StateBounced, r.LastError)
		log.Info("bounced", "reason", r.LastError)
	case expired:
		// RFC 3463 5.4.7: delivery time expired; the last temporary
		// error stays in the diagnostic.
		r.State, r.Status = StateBounced, "5.4.7"
		r.LastError = "gave up after " + q.opts.MaxAge.String() + ": " + r.LastError
		r.record(now, StateBounced, r.LastError)
		log.Info("bounced", "reason", r.LastError)
	default:
		r.State = StateDeferred
		r.record(now, StateDeferred, r.LastError)
		log.Info("deferred", "reason", r.LastError, "next_attempt", r.NextAttempt.Format(time.RFC3339))
	}
	q.tell(m, i, r.State, de.Command)
}

func (q *Queue) saveState(m *message) error {
	data, err := marshalState(&m.st)
	if err != nil {
		return err
	}
	if err := q.spool.WriteState(m.env.ID, data); err != nil {
		return err
	}
	m.fresh = false
	return nil
}
