package queue

import (
	"sort"
	"time"

	"mailgate/internal/mailmsg"
)

// Filter picks the messages `mailgate queue list` shows; zero fields
// match every message. A message matches when one of its recipients
// matches Domain and State together.
type Filter struct {
	Domain string // a recipient's domain
	State  string // a recipient's state: pending, deferred, held, delivered, bounced
	// OlderThan keeps messages received longer ago than this.
	OlderThan time.Duration
}

// Select returns the messages f matches, oldest first. The go-memdb
// index answers the domain and state part (by its domain index, else its
// state index), so a listing for one domain does not walk the queue.
func (q *Queue) Select(f Filter) []MessageInfo {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.flushIndex()
	now := q.now()
	out := []MessageInfo{} // JSON [] for an empty queue, not null
	for id := range q.matching(f) {
		m := q.msgs[id]
		if m == nil || m.deleted || (f.OlderThan > 0 && now.Sub(m.env.Received) < f.OlderThan) {
			continue
		}
		out = append(out, q.info(m))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// matching returns the IDs of messages with a recipient that matches f's
// domain and state; the caller holds q.mu and has flushed the index.
func (q *Queue) matching(f Filter) map[string]bool {
	f.Domain = mailmsg.Domain("@" + f.Domain)
	txn := q.db.Txn(false)
	index, args := "id_prefix", []any{""}
	switch {
	case f.Domain != "":
		index, args = "domain", []any{f.Domain}
	case f.State != "":
		index, args = "state", []any{f.State}
	}
	ids := map[string]bool{}
	it, err := txn.Get("rcpt", index, args...)
	if err != nil {
		return ids // only for an unknown index: the schema is static
	}
	for obj := it.Next(); obj != nil; obj = it.Next() {
		e := obj.(*entry)
		if (f.Domain == "" || e.Domain == f.Domain) && (f.State == "" || e.State == f.State) {
			ids[e.ID] = true
		}
	}
	return ids
}
