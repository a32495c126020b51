package queue

import (
	"strings"
	"time"
)

// What becomes of each recipient goes to Options.Outcomes (webhook
// events, the suppression list) before the queue records it durably, and
// Outcomes makes what it keeps durable before it returns. So an event
// is never lost to a crash that keeps the outcome: a message that is
// still queued gets its state written (fsync) after Outcomes returned;
// a finished one is handed to the remover, which calls Outcomes and
// appends its record before it takes the spool files out, and the same
// flush makes all of it durable. A crash before that finds the message
// again at start and delivers it once more, as it would have anyway.

// tell queues recipient i's new state (or StateDelayWarning) for
// Options.Outcomes; settle hands them over.
func (q *Queue) tell(m *message, i int, state, command string) {
	if q.opts.Outcomes == nil && q.done == nil {
		return
	}
	r := &m.st.Recipients[i]
	reply := r.LastError
	if state == StateDelivered {
		reply = r.Reply
	}
	m.outs = append(m.outs, Outcome{ID: m.env.ID, Account: m.env.Account, Recipient: m.env.Recipients[i].Addr,
		State: state, Status: r.Status, Command: command, Reply: reply, Index: i, Attempts: r.Attempts, Time: q.now().UTC()})
}

// settle persists the state, sends the reports that are due, and removes
// the message once every recipient is final; the outcomes go to
// Outcomes first (see above).
func (q *Queue) settle(m *message, now time.Time) {
	q.maybeWarnDelay(m, now)
	q.sendReports(m, now)
	outs := m.outs
	m.outs = nil
	if !m.allFinal() {
		q.tellOutcomes(outs)
		if err := q.saveState(m); err != nil {
			q.log.Error("cannot save delivery state", "msgid", m.env.ID, "err", err)
		}
		q.indexMessage(m)
		return
	}
	q.unindexMessage(m)
	delete(q.msgs, m.env.ID)
	// files go in the remover's next batch, after the outcomes and record
	q.removals <- removal{id: m.env.ID, state: !m.fresh, outs: outs, rec: finishedRecord(m, now)}
}

// tellOutcomes hands outcomes to Options.Outcomes.
func (q *Queue) tellOutcomes(outs []Outcome) {
	if len(outs) > 0 && q.opts.Outcomes != nil {
		q.opts.Outcomes(outs)
	}
}

// finishedRecord is what Finished keeps of m.
func finishedRecord(m *message, now time.Time) FinishedRecord {
	rec := FinishedRecord{ID: m.env.ID, Account: m.env.Account, From: m.env.From, Finished: now.UTC()}
	for i, r := range m.st.Recipients {
		reply := r.LastError
		if r.State == StateDelivered {
			reply = r.Reply
		}
		rec.Recipients = append(rec.Recipients, FinishedRcpt{Recipient: m.env.Recipients[i].Addr, State: r.State,
			Status: r.Status, Reply: reply, Attempts: r.Attempts})
	}
	return rec
}

// finishRemoval tells a finished message's outcomes and appends its
// record; the remover then takes its files out.
func (q *Queue) finishRemoval(r removal) {
	q.tellOutcomes(r.outs)
	for _, o := range r.outs {
		if o.Suppressed && o.Index < len(r.rec.Recipients) {
			r.rec.Recipients[o.Index].Suppressed = true
		}
	}
	if r.rec.ID == "" {
		return
	}
	if err := q.done.Append(r.rec); err != nil {
		q.log.Error("cannot record finished message", "msgid", r.id, "err", err)
	}
}

// Finished returns the record of a message that left the queue; ok is
// false for one never finished here or pruned.
func (q *Queue) Finished(id string) (FinishedRecord, bool) { return q.done.Get(id) }

// LateBounce records in a finished message's record that recipient
// addr bounced after it was delivered (a bounce report that came by
// mail); ok is false when the message has no record (still queued, or
// unknown) or no such recipient.
func (q *Queue) LateBounce(id, addr, status, reply string, suppressed bool) (index int, ok bool, err error) {
	rec, found := q.done.Get(id)
	if !found {
		return 0, false, nil
	}
	for i := range rec.Recipients {
		r := &rec.Recipients[i]
		if !strings.EqualFold(r.Recipient, addr) {
			continue
		}
		r.State, r.Status, r.Reply, r.Suppressed = StateBounced, status, reply, r.Suppressed || suppressed
		rec.Finished = q.now().UTC()
		if err := q.done.Append(rec); err != nil {
			return i, true, err
		}
		return i, true, q.done.Sync()
	}
	return 0, false, nil
}
