package queue

import (
	"container/heap"
	"time"
)

// readyItem is one recipient waiting for its time, in its destination's
// heap. Items are never updated in place: a change of state pushes a new
// item and the old one is dropped when it comes up (see valid).
type readyItem struct {
	due uint64 // dueAt of the recipient's NextAttempt when pushed
	seq uint64 // push order: among equal times, the oldest message first
	msg *message
	idx int
}

// domainHeap orders one destination's recipients by time, then age.
type domainHeap []readyItem

func (h domainHeap) Len() int { return len(h) }
func (h domainHeap) Less(i, j int) bool {
	if h[i].due != h[j].due {
		return h[i].due < h[j].due
	}
	return h[i].seq < h[j].seq
}
func (h domainHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *domainHeap) Push(x any)   { *h = append(*h, x.(readyItem)) }
func (h *domainHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	old[len(old)-1] = readyItem{}
	*h = old[:len(old)-1]
	return it
}

// readySet is what the scheduler starts jobs from: one heap per
// destination domain. The go-memdb index answers the admin API and the
// metrics; scanning it for due recipients on every wake-up cost O(backlog)
// per accepted message (13-20% of the server's CPU in a perf profile
// under mailgate-bench send; BenchmarkTakeDue compares the two),
// most of it for recipients whose destination was already at its
// concurrency cap. Here a destination at its cap is not looked at, and a
// dispatch pops only what it starts.
type readySet struct {
	seq      uint64
	byDomain map[string]*domainHeap
}

func newReadySet() *readySet { return &readySet{byDomain: map[string]*domainHeap{}} }

func (r *readySet) push(domain string, m *message, idx int, due uint64) {
	h := r.byDomain[domain]
	if h == nil {
		h = &domainHeap{}
		r.byDomain[domain] = h
	}
	r.seq++
	heap.Push(h, readyItem{due: due, seq: r.seq, msg: m, idx: idx})
}

// valid reports whether an item still stands for a recipient to try at
// its time: the message is queued, not held, and the recipient is not
// final, not in flight and still due when the item says.
func (q *Queue) valid(it readyItem) bool {
	m := it.msg
	if m.deleted || q.msgs[m.env.ID] != m || m.st.Held || m.inFlight[it.idx] {
		return false
	}
	r := &m.st.Recipients[it.idx]
	return !r.final() && dueAt(r.NextAttempt) == it.due
}

// takeDue pops the due recipients of every destination with room under
// its cap, grouped into jobs (a message's due recipients in one domain
// make one job), up to free jobs. It returns the jobs and when the next
// recipient of a destination with room becomes due (zero if none).
func (q *Queue) takeDue(now time.Time, free int) ([]*job, time.Time) {
	until := dueAt(now)
	next := uint64(notDue)
	var jobs []*job
	for domain, h := range q.ready.byDomain {
		room := q.opts.PerDestination - q.perDomain[domain]
		var cur *job
		for h.Len() > 0 {
			top := (*h)[0]
			if !q.valid(top) {
				heap.Pop(h)
				continue
			}
			if top.due > until {
				if room > 0 {
					next = min(next, top.due)
				}
				break
			}
			if cur == nil || cur.msg != top.msg {
				if room <= 0 || free <= 0 {
					break
				}
				cur = &job{msg: top.msg, domain: domain}
				jobs = append(jobs, cur)
				room--
				free--
			}
			heap.Pop(h)
			cur.idx = append(cur.idx, top.idx)
			// Taken: another item for it (pushed twice while waiting) is
			// no longer valid, in this pass or later.
			top.msg.inFlight[top.idx] = true
		}
		if h.Len() == 0 {
			delete(q.ready.byDomain, domain)
		}
	}
	if next == notDue {
		return jobs, time.Time{}
	}
	return jobs, time.Unix(0, int64(next))
}
