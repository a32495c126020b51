// Package queue keeps accepted mail on stable storage until every
// recipient is delivered or bounced: the spool on disk, an in-memory index
// (go-memdb) rebuilt from it at start, one scheduler loop with the retry
// schedule, and DSN reports. Due recipients go to delivery, grouped by
// destination domain.
package queue

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"mailgate/internal/mailmsg"

	"github.com/hashicorp/go-memdb"
	"github.com/prometheus/client_golang/prometheus"
)

// Options are the queue's settings and dependencies.
type Options struct {
	// Dir is the spool directory (<data_dir>/queue).
	Dir       string
	Deliverer Deliverer
	// Hostname names this server in DSNs.
	Hostname         string
	FirstRetry       time.Duration
	MaxRetryInterval time.Duration
	MaxAge           time.Duration
	DelayWarning     time.Duration // 0: no delay warnings
	MaxConcurrent    int
	PerDestination   int
	// Destination is the key recipients are grouped by into one delivery
	// attempt (one connection, one copy of the message) and counted
	// against PerDestination; nil: the recipient's domain. The delivery
	// router's Destination puts every remote recipient under one key when
	// a smarthost takes them all.
	Destination func(rcpt string) string
	Logger      *slog.Logger
	Registerer  prometheus.Registerer
	Now         func() time.Time
	// Outcomes, when set, is told the recipients' results (suppression
	// list, webhooks) before the queue makes them durable, and must have
	// made durable what it keeps of them when it returns: then a crash
	// can lose an outcome's event only together with the outcome itself,
	// which the restart then delivers again (see outcome.go). It may run
	// under the queue's lock: it must not call the queue.
	Outcomes func([]Outcome)
	// EnvelopeID, when set, gives the ENVID (RFC 3461) an account's
	// message is sent with when its sender gave none, so that a bounce
	// report that comes back later names it (package bounces).
	EnvelopeID func(queueID string) string
	// FinishedRetention and FinishedMaxSize bound the records of
	// finished messages (Finished); retention 0 keeps none.
	FinishedRetention time.Duration
	FinishedMaxSize   int64
	// Release, when set, is called after an attempt read a large message
	// back from the spool, so its memory goes back to the system soon
	// (gctune.Releaser).
	Release func()
}

// Outcome is one recipient's result of a delivery attempt: State is
// delivered, deferred or bounced (or StateDelayWarning); Command is the
// SMTP step that failed; Reply the remote's reply (for delivered, its
// answer to the content). Index and Attempts name the recipient and
// attempt, so that an outcome told again after a crash can be known.
// The Outcomes callback sets Suppressed when a bounce put the recipient
// on the account's suppression list.
type Outcome struct {
	ID, Account, Recipient string
	State, Status          string
	Command, Reply         string
	Index, Attempts        int
	Time                   time.Time
	Suppressed             bool
}

// Queue is mailgate's mail queue.
type Queue struct {
	opts    Options
	spool   *Spool
	lock    *os.File  // the spool's lock, held while open (lock.go)
	done    *Finished // records of finished messages
	log     *slog.Logger
	metrics *metrics
	now     func() time.Time
	db      *memdb.MemDB
	// recordsInFlush: the spool's flush is a syncfs of the file system
	// the finished records are on, so it makes them durable too.
	recordsInFlush bool

	// indexOps are changes to db not yet written (index.go); under mu.
	indexOps []indexOp
	ready    *readySet // guarded by mu

	wake chan struct{}
	// removals carries IDs of finished messages to the remover.
	removals    chan removal
	removerDone chan struct{}
	closeOnce   sync.Once
	results     chan jobResult
	cancel      context.CancelFunc
	stopped     chan struct{}

	// settled, when set (tests), is told the ID of every message whose
	// attempt results were just recorded.
	settled chan string

	mu        sync.Mutex
	msgs      map[string]*message
	inFlight  int
	perDomain map[string]int
	hotBytes  int         // sum of len(message.raw)
	cold      *byteBudget // messages read back from the spool for attempts
}

// message is a queued message: its envelope (immutable) and state.
type message struct {
	env      *mailmsg.Envelope
	size     int64
	st       msgState
	inFlight map[int]bool
	deleted  bool
	// outs are outcomes not yet handed to Options.Outcomes (settle does).
	outs []Outcome
	// raw is the message as accepted, kept from Enqueue until its first
	// attempt ends (within hotBudget), so that attempt need not read the
	// spool file back. Guarded by q.mu; jobs take their own copy of the
	// slice header (the bytes never change).
	raw []byte
	// fresh marks a message accepted by this process whose state has
	// never been written: its spool file alone says "pending, first
	// attempt starts now", so that attempt needs no record of its own
	// (see Queue.start). Recovered messages are never fresh.
	fresh bool
}

func (m *message) allFinal() bool {
	for _, r := range m.st.Recipients {
		if !r.final() {
			return false
		}
	}
	return true
}

func marshalState(st *msgState) ([]byte, error) { return json.MarshalIndent(st, "", " ") }

// Open recovers the spool, rebuilds the index and returns the queue; Start
// begins delivery.
func Open(o Options) (*Queue, error) {
	setDefaults(&o)
	q := &Queue{
		opts: o, log: o.Logger, now: o.Now, db: newIndex(), ready: newReadySet(),
		wake: make(chan struct{}, 1), results: make(chan jobResult, o.MaxConcurrent),
		stopped: make(chan struct{}), removals: make(chan removal, 4096), removerDone: make(chan struct{}), msgs: map[string]*message{}, perDomain: map[string]int{},
		cold: newByteBudget(coldBudget),
	}
	q.metrics = newMetrics(o.Registerer)
	sp, err := OpenSpool(filepath.Clean(o.Dir), q.metrics)
	if err != nil {
		return nil, err
	}
	if q.lock, err = lockSpool(sp.Dir()); err != nil {
		sp.Close()
		return nil, err
	}
	q.spool = sp
	if q.done, err = OpenFinished(filepath.Join(sp.Dir(), finishedDir), o.FinishedRetention, o.FinishedMaxSize, o.Now); err != nil {
		sp.Close()
		q.lock.Close()
		return nil, err
	}
	q.recordsInFlush = sp.flushCovers(q.done.dir)
	recovered, broken, err := sp.Recover()
	if err != nil {
		sp.Close()
		q.lock.Close()
		return nil, err
	}
	if broken > 0 {
		q.log.Warn("spool files moved aside as .broken", "count", broken, "dir", sp.Dir())
	}
	for _, r := range recovered {
		m := &message{env: r.Env, size: int64(r.Size), st: loadState(r.Env, r.State), inFlight: map[int]bool{}}
		q.msgs[r.Env.ID] = m
		q.indexMessage(m)
	}
	go q.remover()
	q.registerGauges(o.Registerer)
	q.log.Info("queue recovered", "messages", len(recovered), "broken", broken)
	return q, nil
}

func setDefaults(o *Options) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.FirstRetry <= 0 {
		o.FirstRetry = 5 * time.Minute
	}
	if o.MaxRetryInterval < o.FirstRetry {
		o.MaxRetryInterval = max(time.Hour, o.FirstRetry)
	}
	if o.MaxAge <= 0 {
		o.MaxAge = 5 * 24 * time.Hour
	}
	if o.MaxConcurrent <= 0 {
		o.MaxConcurrent = 100
	}
	if o.PerDestination <= 0 {
		o.PerDestination = 20
	}
	if o.FinishedMaxSize <= 0 {
		o.FinishedMaxSize = 1 << 30
	}
	if o.Hostname == "" {
		o.Hostname = "localhost"
	}
}

// Start runs the scheduler until Close. Without a Deliverer the queue
// only stores mail.
func (q *Queue) Start() {
	if q.opts.Deliverer == nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	q.cancel = cancel
	go q.run(ctx)
}

// Close stops the scheduler, waits for deliveries in flight to be
// recorded, and closes the spool.
func (q *Queue) Close() {
	if q.cancel != nil {
		q.cancel()
		<-q.stopped
	}
	q.closeOnce.Do(func() { close(q.removals) })
	<-q.removerDone
	q.spool.Close()
	q.done.Close()
	q.lock.Close() // drops the flock
}

// Enqueue stores a message durably and schedules it; when it returns nil
// the message may be acknowledged with 250.
func (q *Queue) Enqueue(ctx context.Context, env *mailmsg.Envelope, raw []byte) error {
	if err := q.spool.Write(env, raw); err != nil {
		return err
	}
	q.mu.Lock()
	m := q.add(env, len(raw))
	if q.hotBytes+len(raw) <= hotBudget {
		m.raw = raw
		q.hotBytes += len(raw)
	}
	q.mu.Unlock()
	q.logQueued(env, int64(len(raw)))
	return nil
}

// EnqueueFrom is Enqueue for a message that is head followed by body,
// where body is read from where it lies (a large message on disk) and
// never held in memory: its first attempt reads the spool file.
func (q *Queue) EnqueueFrom(ctx context.Context, env *mailmsg.Envelope, head []byte, body Body) error {
	if err := q.spool.WriteFrom(env, head, body); err != nil {
		return err
	}
	size := int64(len(head)) + body.Size()
	q.mu.Lock()
	q.add(env, int(size))
	q.mu.Unlock()
	q.logQueued(env, size)
	return nil
}

func (q *Queue) logQueued(env *mailmsg.Envelope, size int64) {
	q.log.Info("queued", "msgid", env.ID, "from", mailmsg.Clean(env.From), "rcpts", len(env.Recipients), "size", size)
}

// add indexes a newly spooled message and wakes the scheduler; the
// caller holds q.mu. The spool write happens before, outside the lock, so
// acceptances share group commits instead of queueing on the mutex.
func (q *Queue) add(env *mailmsg.Envelope, size int) *message {
	m := &message{env: env, size: int64(size), st: newMsgState(env), inFlight: map[int]bool{}, fresh: true}
	q.msgs[env.ID] = m
	q.indexMessage(m)
	q.poke()
	return m
}

// hotBudget bounds the accepted messages kept in memory for their first
// attempt (message.raw); past it, attempts read the spool file.
const hotBudget = 32 << 20

// dropRaw forgets the in-memory copy of m; q.mu is held.
func (q *Queue) dropRaw(m *message) {
	q.hotBytes -= len(m.raw)
	m.raw = nil
}

// poke wakes the scheduler without blocking.
func (q *Queue) poke() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Spool exposes the spool (for tests and the admin API).
func (q *Queue) Spool() *Spool { return q.spool }
