package queue

import (
	"fmt"
	"math"
	"time"

	"github.com/hashicorp/go-memdb"
)

// entry is one recipient in the in-memory index (for the admin API and
// the metrics; the order of attempts is kept in ready.go). Entries are
// immutable (go-memdb's rule): a change inserts a new entry under the
// same key.
type entry struct {
	Key   string // "<msgid>/<index>"
	State string
}

const notDue = math.MaxUint64

var indexSchema = &memdb.DBSchema{Tables: map[string]*memdb.TableSchema{
	"rcpt": {Name: "rcpt", Indexes: map[string]*memdb.IndexSchema{
		"id": {Name: "id", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "Key"}},
		// Only the lookups the queue makes: every index is a radix tree
		// copied on each insert (the index was a tenth of the server's
		// CPU at a thousand messages a second with two more).
		"state": {Name: "state", Indexer: &memdb.StringFieldIndex{Field: "State"}},
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

// indexMessage writes every recipient of m into the index, and those
// waiting for an attempt into the scheduler's ready set.
func (q *Queue) indexMessage(m *message) {
	txn := q.db.Txn(true)
	for i, r := range m.st.Recipients {
		domain := domainOf(m.env.Recipients[i].Addr)
		e := &entry{Key: entryKey(m.env.ID, i), State: r.State}
		if m.st.Held && !r.final() {
			e.State = StateHeld
		}
		if !r.final() && !m.st.Held && !m.inFlight[i] {
			q.ready.push(domain, m, i, dueAt(r.NextAttempt))
		}
		txn.Insert("rcpt", e)
	}
	txn.Commit()
}

// unindexMessage drops a message's recipients from the index.
func (q *Queue) unindexMessage(m *message) {
	txn := q.db.Txn(true)
	for i := range m.env.Recipients {
		txn.Delete("rcpt", &entry{Key: entryKey(m.env.ID, i)})
	}
	txn.Commit()
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
