package queue

import (
	"fmt"
	"math"
	"time"

	"github.com/hashicorp/go-memdb"
)

// entry is one recipient in the in-memory index. Entries are immutable
// (go-memdb's rule): a change inserts a new entry under the same key.
type entry struct {
	Key    string // "<msgid>/<index>"
	MsgID  string
	Idx    int
	Domain string
	State  string
	// Due is when the scheduler should next try it, in Unix nanoseconds;
	// notDue for final, held and in-flight recipients.
	Due uint64
}

const notDue = math.MaxUint64

var indexSchema = &memdb.DBSchema{Tables: map[string]*memdb.TableSchema{
	"rcpt": {Name: "rcpt", Indexes: map[string]*memdb.IndexSchema{
		"id":     {Name: "id", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "Key"}},
		"msg":    {Name: "msg", Indexer: &memdb.StringFieldIndex{Field: "MsgID"}},
		"domain": {Name: "domain", Indexer: &memdb.StringFieldIndex{Field: "Domain", Lowercase: true}},
		"state":  {Name: "state", Indexer: &memdb.StringFieldIndex{Field: "State"}},
		"due":    {Name: "due", Indexer: &memdb.UintFieldIndex{Field: "Due"}},
	}},
}}

func newIndex() *memdb.MemDB {
	db, err := memdb.NewMemDB(indexSchema)
	if err != nil {
		panic(err) // the schema is static
	}
	return db
}

func entryKey(id string, i int) string { return fmt.Sprintf("%s/%d", id, i) }

func dueAt(t time.Time) uint64 {
	if t.IsZero() {
		return 0
	}
	return uint64(t.UnixNano())
}

// indexMessage writes every recipient of m into the index.
func (q *Queue) indexMessage(m *message) {
	txn := q.db.Txn(true)
	for i, r := range m.st.Recipients {
		e := &entry{Key: entryKey(m.env.ID, i), MsgID: m.env.ID, Idx: i, Domain: domainOf(m.env.Recipients[i].Addr), State: r.State, Due: notDue}
		if !r.final() && !m.st.Held && !m.inFlight[i] {
			e.Due = dueAt(r.NextAttempt)
		}
		if m.st.Held && !r.final() {
			e.State = StateHeld
		}
		txn.Insert("rcpt", e)
	}
	txn.Commit()
}

// unindexMessage drops a message's recipients from the index.
func (q *Queue) unindexMessage(id string) {
	txn := q.db.Txn(true)
	txn.DeleteAll("rcpt", "msg", id)
	txn.Commit()
}

// due returns up to limit recipients whose time has come, oldest first,
// and the time of the next one that is not yet due (zero if none, or if
// the limit cut the list).
func (q *Queue) due(now time.Time, limit int) (ready []*entry, next time.Time) {
	txn := q.db.Txn(false)
	it, err := txn.LowerBound("rcpt", "due", uint64(0))
	if err != nil {
		return nil, time.Time{}
	}
	until := uint64(now.UnixNano())
	for obj := it.Next(); obj != nil; obj = it.Next() {
		e := obj.(*entry)
		if e.Due == notDue {
			break
		}
		if e.Due > until {
			return ready, time.Unix(0, int64(e.Due))
		}
		if len(ready) >= limit {
			// More are due: they start as results free slots and wake
			// the loop, so no timer is needed for them.
			return ready, time.Time{}
		}
		ready = append(ready, e)
	}
	return ready, time.Time{}
}

// countByState counts recipients per state, for metrics and `queue list`.
func (q *Queue) countByState() map[string]int {
	out := map[string]int{}
	txn := q.db.Txn(false)
	for _, s := range []string{StatePending, StateDeferred, StateHeld} {
		it, err := txn.Get("rcpt", "state", s)
		if err != nil {
			continue
		}
		for obj := it.Next(); obj != nil; obj = it.Next() {
			out[s]++
		}
	}
	return out
}
