package queue

import "time"

// The remover deletes the files of messages whose every recipient is
// final, away from the scheduler. Removing under q.mu meant waiting for
// a directory fsync with the lock held, once per delivered message: the
// scheduler handled one result per fsync and acceptance (which takes
// q.mu to index a new message) waited behind it. The message leaves the
// index at once (settle); its files go in batches that share one
// directory fsync. Should the server crash before that fsync, the
// message is found again at start and delivered once more, as it would
// be had the crash come a moment before its result was known.

// maxRemoveBatch bounds the removals that share one flush, and
// removeLinger is how long the remover waits for more before it asks for
// one: every flush the remover asks for is one the acceptance of new
// mail may wait behind, and under load messages finish by the hundred a
// second. Each message's files are taken out at once (so a killed
// process does not find them again); only the flush that makes that
// survive a power loss waits, at most removeLinger.
const (
	maxRemoveBatch = 256
	removeLinger   = 20 * time.Millisecond
)

// removal names a finished message; state is false when the queue never
// wrote a state file for it. outs are its outcomes not yet told, rec
// its record for Finished.
type removal struct {
	id    string
	state bool
	outs  []Outcome
	rec   FinishedRecord
}

func (q *Queue) remover() {
	defer close(q.removerDone)
	linger := time.NewTimer(removeLinger)
	for r := range q.removals {
		batch := []string{q.discard(r)}
		linger.Reset(removeLinger)
	fill:
		for len(batch) < maxRemoveBatch {
			select {
			case next, ok := <-q.removals:
				if !ok {
					break fill // Close: flush what we have now
				}
				batch = append(batch, q.discard(next))
			case <-linger.C:
				break fill
			}
		}
		if q.recordsInFlush {
			q.done.Flushed()
		} else if err := q.done.Sync(); err != nil {
			q.log.Error("cannot make finished records durable", "count", len(batch), "err", err)
		}
		if err := q.spool.syncDir(); err != nil {
			q.log.Error("cannot make removals durable", "count", len(batch), "err", err)
		}
		for _, id := range batch {
			q.log.Info("removed", "msgid", id)
		}
	}
}

// discard tells a finished message's outcomes, records it, takes its
// files out of the spool and returns its ID. The record is synced with
// the batch, before the flush that makes the removal durable.
func (q *Queue) discard(r removal) string {
	q.finishRemoval(r)
	if err := q.spool.discard(r.id, r.state); err != nil {
		q.log.Error("cannot remove delivered message", "msgid", r.id, "err", err)
	}
	return r.id
}
