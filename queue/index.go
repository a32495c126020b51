package queue

import (
	"fmt"
	"math"
	"time"

	"mailgate/internal/mailmsg"

	"github.com/hashicorp/go-memdb"
)

// entry is one recipient in the in-memory index: what `mailgate queue
// list` filters by (destination, state, age) and the metrics count. The
// order of attempts is kept in ready.go (see docs/spool.md for why).
// Entries are immutable (go-memdb's rule): a change inserts a new entry
// under the same key.
type entry struct {
	Key    string // "<msgid>/<index>"
	ID     string // the message's queue ID
	State  string
	Domain string // the recipient's domain (mailmsg.Domain)
}

const notDue = math.MaxUint64

var indexSchema = &memdb.DBSchema{Tables: map[string]*memdb.TableSchema{
	"rcpt": {Name: "rcpt", Indexes: map[string]*memdb.IndexSchema{
		"id": {Name: "id", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "Key"}},
		// Every index is a radix tree copied on each insert: the domain
		// index adds roughly 8-16 µs per two-recipient message on the
		// 2-core test machine (BenchmarkIndexMessage: id-state-domain
		// against id-state). The next attempt is not indexed here: the
		// scheduler's per-destination heaps find due recipients more than
		// 50 times faster (BenchmarkTakeDue, docs/spool.md).
		"state":  {Name: "state", Indexer: &memdb.StringFieldIndex{Field: "State"}},
		"domain": {Name: "domain", Indexer: &memdb.StringFieldIndex{Field: "Domain"}},
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

// destination is the group a recipient's attempts belong to (see
// Options.Destination).
func (q *Queue) destination(rcpt string) string {
	if q.opts.Destination != nil {
		return q.opts.Destination(rcpt)
	}
	return mailmsg.Domain(rcpt)
}

// indexMessage writes every recipient of m into the index, and those
// waiting for an attempt into the scheduler's ready set.
func (q *Queue) indexMessage(m *message) {
	for i, r := range m.st.Recipients {
		addr := m.env.Recipients[i].Addr
		e := &entry{Key: entryKey(m.env.ID, i), ID: m.env.ID, State: r.State, Domain: mailmsg.Domain(addr)}
		if m.st.Held && !r.final() {
			e.State = StateHeld
		}
		if !r.final() && !m.st.Held && !m.inFlight[i] {
			q.ready.push(q.destination(addr), m, i, dueAt(r.NextAttempt))
		}
		q.indexOps = append(q.indexOps, indexOp{e: e})
	}
	q.maybeFlushIndex()
}

// unindexMessage drops a message's recipients from the index.
func (q *Queue) unindexMessage(m *message) {
	for i := range m.env.Recipients {
		q.indexOps = append(q.indexOps, indexOp{e: &entry{Key: entryKey(m.env.ID, i)}, del: true})
	}
	q.maybeFlushIndex()
}

// indexOp is a change to the index not yet written to it. A go-memdb
// write transaction allocates a cache of written nodes and copies each
// tree's path per change: one transaction per message was 8% of the
// CPU at 2,000 messages a second, in allocations and garbage collection
// (BenchmarkIndexMessage, batched against unbatched).
// Changes therefore wait, in order, and go in together: when
// maxIndexOps are waiting, or when the index is read.
type indexOp struct {
	e   *entry
	del bool
}

const maxIndexOps = 512

// maybeFlushIndex writes the waiting changes once there are enough of
// them; the caller holds q.mu.
func (q *Queue) maybeFlushIndex() {
	if len(q.indexOps) >= maxIndexOps {
		q.flushIndex()
	}
}

// flushIndex writes the waiting changes in one transaction; the caller
// holds q.mu.
func (q *Queue) flushIndex() {
	if len(q.indexOps) == 0 {
		return
	}
	txn := q.db.Txn(true)
	for _, op := range q.indexOps {
		if op.del {
			txn.Delete("rcpt", op.e)
		} else {
			txn.Insert("rcpt", op.e)
		}
	}
	txn.Commit()
	clear(q.indexOps)
	q.indexOps = q.indexOps[:0]
}

// countByState counts recipients per state, for metrics and `queue list`.
func (q *Queue) countByState() map[string]int {
	q.mu.Lock()
	q.flushIndex()
	q.mu.Unlock()
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
