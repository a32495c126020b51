package queue

import (
	"container/heap"
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/go-memdb"

	"mailgate/internal/mailmsg"
)

// benchMessages makes n queued messages of two recipients each, spread
// over 100 domains, all due now.
func benchMessages(n int) []*message {
	out := make([]*message, n)
	for i := range out {
		dom := fmt.Sprintf("d%d.test", i%100)
		env := &mailmsg.Envelope{ID: fmt.Sprintf("%019x", i), Recipients: []mailmsg.Recipient{{Addr: "a@" + dom}, {Addr: "b@" + dom}}}
		out[i] = &message{env: env, st: msgState{Recipients: make([]RcptState, 2)}, inFlight: map[int]bool{}}
		for j := range out[i].st.Recipients {
			out[i].st.Recipients[j].State = StatePending
		}
	}
	return out
}

// BenchmarkIndexMessage is the index's cost per accepted message (two
// recipients, changes written in batches as the queue does), with the
// schema the queue uses (id, state, domain) and with id and state
// only, which is all the queue indexed before `queue list` filtered by
// domain, state and age; and with one write transaction per message
// instead of batches (index.go, indexOp).
func BenchmarkIndexMessage(b *testing.B) {
	idState := &memdb.DBSchema{Tables: map[string]*memdb.TableSchema{"rcpt": {Name: "rcpt", Indexes: map[string]*memdb.IndexSchema{
		"id":    indexSchema.Tables["rcpt"].Indexes["id"],
		"state": indexSchema.Tables["rcpt"].Indexes["state"],
	}}}}
	for _, bc := range []struct {
		name      string
		schema    *memdb.DBSchema
		unbatched bool
	}{{"id-state-domain", indexSchema, false}, {"id-state", idState, false}, {"id-state-domain-unbatched", indexSchema, true}} {
		b.Run(bc.name, func(b *testing.B) {
			msgs := benchMessages(10000)
			db, err := memdb.NewMemDB(bc.schema)
			if err != nil {
				b.Fatal(err)
			}
			q := &Queue{db: db, ready: newReadySet()}
			i := 0
			for b.Loop() {
				m := msgs[i%len(msgs)]
				if i >= len(msgs) {
					q.unindexMessage(m)
				}
				q.indexMessage(m)
				if bc.unbatched {
					q.flushIndex() // one write transaction per message
				}
				i++
			}
			q.flushIndex()
		})
	}
}

// BenchmarkTakeDue compares the two ways to find the recipients due now,
// with a backlog of 20,000 not due: the per-destination heaps the
// scheduler uses (push 1,000 due, pop them) and go-memdb's due index
// (insert 1,000 due, walk the index up to now, write them back as taken).
// The heaps stay for the scheduler while they win by this measure
// (docs/spool.md).
func BenchmarkTakeDue(b *testing.B) {
	const backlog, batch = 20000, 1000
	later := uint64(time.Now().Add(time.Hour).UnixNano())
	msgs := benchMessages(backlog/2 + batch/2)
	b.Run("heaps", func(b *testing.B) {
		r := newReadySet()
		for _, m := range msgs[:backlog/2] {
			for j := range 2 {
				r.push(mailmsg.Domain(m.env.Recipients[j].Addr), m, j, later)
			}
		}
		for b.Loop() {
			for _, m := range msgs[backlog/2:] {
				for j := range 2 {
					r.push(mailmsg.Domain(m.env.Recipients[j].Addr), m, j, 0)
				}
			}
			n := 0
			for _, h := range r.byDomain {
				for h.Len() > 0 && (*h)[0].due == 0 {
					heap.Pop(h)
					n++
				}
			}
			if n != batch {
				b.Fatalf("took %d", n)
			}
		}
	})
	b.Run("memdb", func(b *testing.B) {
		db, err := memdb.NewMemDB(dueSchema)
		if err != nil {
			b.Fatal(err)
		}
		txn := db.Txn(true)
		for _, m := range msgs[:backlog/2] {
			for j := range 2 {
				txn.Insert("rcpt", &dueEntry{Key: entryKey(m.env.ID, j), ID: m.env.ID, State: StateDeferred, Domain: mailmsg.Domain(m.env.Recipients[j].Addr), Due: later})
			}
		}
		txn.Commit()
		for b.Loop() {
			txn := db.Txn(true)
			for _, m := range msgs[backlog/2:] {
				for j := range 2 {
					txn.Insert("rcpt", &dueEntry{Key: entryKey(m.env.ID, j), ID: m.env.ID, State: StatePending, Domain: mailmsg.Domain(m.env.Recipients[j].Addr), Due: 0})
				}
			}
			txn.Commit()
			read := db.Txn(false)
			it, err := read.LowerBound("rcpt", "due", uint64(0))
			if err != nil {
				b.Fatal(err)
			}
			var due []*dueEntry
			for obj := it.Next(); obj != nil && obj.(*dueEntry).Due == 0; obj = it.Next() {
				due = append(due, obj.(*dueEntry))
			}
			if len(due) != batch {
				b.Fatalf("took %d", len(due))
			}
			txn = db.Txn(true)
			for _, e := range due {
				taken := *e
				taken.Due = notDue
				txn.Insert("rcpt", &taken)
			}
			txn.Commit()
		}
	})
}

// dueEntry is an index entry with its next attempt, for the memdb side
// of BenchmarkTakeDue: the queue's own entry has none (see index.go).
type dueEntry struct {
	Key, ID, State, Domain string
	Due                    uint64
}

var dueSchema = &memdb.DBSchema{Tables: map[string]*memdb.TableSchema{"rcpt": {Name: "rcpt", Indexes: map[string]*memdb.IndexSchema{
	"id":     {Name: "id", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "Key"}},
	"state":  {Name: "state", Indexer: &memdb.StringFieldIndex{Field: "State"}},
	"domain": {Name: "domain", Indexer: &memdb.StringFieldIndex{Field: "Domain"}},
	"due":    {Name: "due", Indexer: &memdb.UintFieldIndex{Field: "Due"}},
}}}}
