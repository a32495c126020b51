// Package queue keeps accepted mail on stable storage until every
// recipient is delivered or bounced: the spool on disk, an in-memory index
// rebuilt from it at start, the retry schedule and DSN bounces. Due
// recipients go to delivery, grouped by destination.
package queue

import (
	"context"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Options are the queue's dependencies.
type Options struct {
	// Dir is the spool directory (<data_dir>/queue).
	Dir        string
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Now        func() time.Time
}

// Queue is mailgate's mail queue.
type Queue struct {
	opts    Options
	spool   *Spool
	log     *slog.Logger
	metrics *metrics
}

// Open recovers the spool and returns the queue.
func Open(o Options) (*Queue, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	m := newMetrics(o.Registerer)
	sp, err := OpenSpool(filepath.Clean(o.Dir), m)
	if err != nil {
		return nil, err
	}
	q := &Queue{opts: o, spool: sp, log: o.Logger, metrics: m}
	recovered, broken, err := sp.Recover()
	if err != nil {
		sp.Close()
		return nil, err
	}
	if broken > 0 {
		q.log.Warn("spool files moved aside as .broken", "count", broken, "dir", sp.Dir())
	}
	q.log.Info("queue recovered", "messages", len(recovered))
	return q, nil
}

// Enqueue stores a message durably; when it returns nil the message may
// be acknowledged with 250.
func (q *Queue) Enqueue(ctx context.Context, env *Envelope, raw []byte) error {
	if err := q.spool.Write(env, raw); err != nil {
		return err
	}
	q.log.Info("queued", "msgid", env.ID, "from", env.From, "rcpts", len(env.Recipients), "size", len(raw))
	return nil
}

// Spool exposes the spool (for the admin API and tests).
func (q *Queue) Spool() *Spool { return q.spool }

// Close stops the queue.
func (q *Queue) Close() { q.spool.Close() }
