// Package webhook tells applications what became of their mail: each
// recipient's delivery, deferral, bounce, delay warning and suppression
// goes, as a signed JSON event, to the URLs the account registered. Events
// are kept in an outbox on disk and retried with backoff for 24 hours
// (at-least-once; the event ID lets the receiver drop duplicates). The
// queue's outcomes come in through Record, on disk before the queue
// records them (cmd/mailgate wires it).
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"mailgate/internal/safefile"
)

// Event is what a webhook receives.
type Event struct {
	ID        string            `json:"id"`
	Type      string            `json:"type"`
	Time      time.Time         `json:"time"`
	QueueID   string            `json:"queue_id"`
	Account   string            `json:"account"`
	Recipient string            `json:"recipient"`
	Status    string            `json:"status,omitempty"`
	Reply     string            `json:"reply,omitempty"`
	Tags      []string          `json:"tags,omitempty"`
	Metadata  map[string]string `json:"metadata,omitempty"`
}

// item is one event for one hook, as kept in the outbox.
type item struct {
	Hook      string    `json:"hook"`
	Event     Event     `json:"event"`
	Attempts  int       `json:"attempts"`
	Next      time.Time `json:"next"`
	LastError string    `json:"last_error,omitempty"`
}

func (it *item) name() string { return it.Event.ID + "." + it.Hook + ".json" }

// Options are the dispatcher's settings and dependencies.
type Options struct {
	// Dir holds the outbox (<data_dir>/webhooks).
	Dir   string
	Hooks *Hooks
	// Labels returns the tags and metadata an API request gave a queued
	// message; nil: none.
	Labels     func(queueID string) ([]string, map[string]string)
	Client     *http.Client
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Now        func() time.Time
}

// Dispatcher keeps the outbox and posts its events.
type Dispatcher struct {
	opts    Options
	dir     string
	results chan result
	// incoming are items Record wrote, for run to take over; wake pokes
	// run.
	mu       sync.Mutex
	incoming []*item
	wake     chan struct{}
	metrics  *metrics
	pending  map[string]*item // by file name; owned by run
	busy     map[string]bool
	stop     context.CancelFunc
	done     chan struct{}
}

type result struct {
	it  *item
	err error
}

// Bounds of the dispatcher.
const (
	maxAge      = 24 * time.Hour
	workers     = 4
	postTimeout = 15 * time.Second
)

// New loads the outbox; Start sends.
func New(o Options) (*Dispatcher, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: postTimeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	dir := filepath.Join(o.Dir, "outbox")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	d := &Dispatcher{opts: o, dir: dir, wake: make(chan struct{}, 1), results: make(chan result, workers),
		pending: map[string]*item{}, busy: map[string]bool{}, done: make(chan struct{})}
	d.metrics = newMetrics(o.Registerer)
	return d, d.recover()
}

// recover loads the outbox; a file that does not parse is moved aside.
func (d *Dispatcher) recover() error {
	entries, err := os.ReadDir(d.dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		p := filepath.Join(d.dir, e.Name())
		b, err := os.ReadFile(p)
		var it item
		if err == nil {
			err = json.Unmarshal(b, &it)
		}
		if err != nil || it.name() != e.Name() {
			os.Rename(p, p+".broken")
			continue
		}
		d.pending[e.Name()] = &it
	}
	d.metrics.pending.Set(float64(len(d.pending)))
	return nil
}

// Record writes e, once for each of the account's hooks that takes its
// type, into the outbox, durably (fsync) before it returns, so the queue
// may then record the outcome the events tell: a crash can no longer
// fall between the two. An event without an ID gets one derived from
// what it tells (EventID), so the same outcome told again after a crash
// has the same ID and the receiver drops the copy. Events no hook wants
// cost nothing.
func (d *Dispatcher) Record(evs []Event) error {
	var items []*item
	for _, e := range evs {
		hooks := d.opts.Hooks.For(e.Account, e.Type)
		if len(hooks) == 0 {
			continue
		}
		if e.ID == "" {
			e.ID = newEventID()
		}
		if d.opts.Labels != nil {
			e.Tags, e.Metadata = d.opts.Labels(e.QueueID)
		}
		for _, h := range hooks {
			items = append(items, &item{Hook: h.ID, Event: e, Next: d.opts.Now()})
		}
	}
	if len(items) == 0 {
		return nil
	}
	if err := d.writeAll(items); err != nil {
		d.metrics.dropped.Add(float64(len(items)))
		return err
	}
	d.mu.Lock()
	d.incoming = append(d.incoming, items...)
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
	return nil
}

// writeAll writes items to temp files, fsyncs each, renames them into
// place and fsyncs the outbox directory once.
func (d *Dispatcher) writeAll(items []*item) error {
	for _, it := range items {
		b, err := json.Marshal(it)
		if err != nil {
			return err
		}
		tmp := filepath.Join(d.dir, ".tmp-"+it.name())
		if err := writeSynced(tmp, b); err != nil {
			os.Remove(tmp)
			return err
		}
		if err := os.Rename(tmp, filepath.Join(d.dir, it.name())); err != nil {
			return err
		}
	}
	return safefile.SyncDir(d.dir)
}

func writeSynced(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// EventID is an event's ID derived from what it tells: the queue ID,
// the recipient's index and, for a deferral or delay warning (which
// recur), the attempt. A final event (delivered, bounced, suppressed)
// told twice, before and after a crash, has one ID.
func EventID(queueID string, index, attempt int, typ string) string {
	if typ != Deferred && typ != DelayWarning {
		attempt = 0
	}
	sum := sha256.Sum256(fmt.Appendf(nil, "%s\x00%d\x00%d\x00%s", queueID, index, attempt, typ))
	return "evt_" + hex.EncodeToString(sum[:12])
}

// Start runs the dispatcher until Close.
func (d *Dispatcher) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	d.stop = cancel
	go d.run(ctx)
}

// Close stops sending; what is not sent stays in the outbox.
func (d *Dispatcher) Close() {
	if d.stop != nil {
		d.stop()
		<-d.done
	}
}

// run is the one loop: events in, posts due, results back.
func (d *Dispatcher) run(ctx context.Context) {
	defer close(d.done)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.wake:
			d.takeIncoming()
		case r := <-d.results:
			d.settle(r)
		case <-timer.C:
		}
		timer.Reset(d.startDue(ctx))
	}
}

// takeIncoming makes the items Record wrote pending.
func (d *Dispatcher) takeIncoming() {
	d.mu.Lock()
	items := d.incoming
	d.incoming = nil
	d.mu.Unlock()
	for _, it := range items {
		d.pending[it.name()] = it
	}
	d.metrics.pending.Set(float64(len(d.pending)))
}

func (d *Dispatcher) save(it *item) error {
	b, err := json.Marshal(it)
	if err != nil {
		return err
	}
	return safefile.WriteFile(filepath.Join(d.dir, it.name()), b, 0o600)
}

// startDue posts the due items, at most workers at a time, and returns
// how long to wait for the next one.
func (d *Dispatcher) startDue(ctx context.Context) time.Duration {
	now := d.opts.Now()
	wait := time.Minute
	for name, it := range d.pending {
		if d.busy[name] {
			continue
		}
		if until := it.Next.Sub(now); until > 0 {
			wait = min(wait, until)
			continue
		}
		if len(d.busy) >= workers {
			return wait
		}
		d.busy[name] = true
		go func(it *item) { d.results <- result{it, d.post(ctx, it)} }(it)
	}
	return wait
}

// settle records a post's result: sent items leave the outbox, failed
// ones wait for their next attempt until 24 hours after the event.
func (d *Dispatcher) settle(r result) {
	it, name := r.it, r.it.name()
	delete(d.busy, name)
	if r.err == nil {
		d.remove(name)
		d.metrics.sent.Inc()
		return
	}
	d.metrics.failed.Inc()
	it.Attempts++
	it.LastError = r.err.Error()
	it.Next = d.opts.Now().Add(backoff(it.Attempts))
	if it.Next.Sub(it.Event.Time) > maxAge {
		d.opts.Logger.Warn("webhook event given up", "event", it.Event.ID, "hook", it.Hook, "attempts", it.Attempts, "err", it.LastError)
		d.metrics.expired.Inc()
		d.remove(name)
		return
	}
	d.opts.Logger.Info("webhook attempt failed", "event", it.Event.ID, "hook", it.Hook, "attempts", it.Attempts, "err", it.LastError, "next", it.Next.Format(time.RFC3339))
	if err := d.save(it); err != nil {
		d.opts.Logger.Error("webhook state not written", "event", it.Event.ID, "err", err)
	}
}

func (d *Dispatcher) remove(name string) {
	delete(d.pending, name)
	os.Remove(filepath.Join(d.dir, name))
	d.metrics.pending.Set(float64(len(d.pending)))
}

// backoff is the wait after the nth failed attempt: 10s doubling, at most
// an hour.
func backoff(n int) time.Duration {
	d := 10 * time.Second << min(n-1, 9)
	return min(d, time.Hour)
}

// post sends one event; only a 2xx answer counts as received.
func (d *Dispatcher) post(ctx context.Context, it *item) error {
	h, ok := d.opts.Hooks.Get(it.Hook)
	if !ok {
		return nil // the hook was removed: nothing to send it to
	}
	body, err := json.Marshal(it.Event)
	if err != nil {
		return err
	}
	ts := d.opts.Now().Unix()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "mailgate-webhook")
	req.Header.Set("Mailgate-Event-Id", it.Event.ID)
	req.Header.Set("Mailgate-Signature", Sign(h.Secret, ts, body))
	resp, err := d.opts.Client.Do(req)
	if err != nil {
		return fmt.Errorf("POST failed: %s", strings.ReplaceAll(err.Error(), h.URL, "URL"))
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("answered %d", resp.StatusCode)
	}
	return nil
}

// Sign is the Mailgate-Signature header: the time in Unix seconds and
// the HMAC-SHA256, with the hook's secret, of "TIME.BODY" (docs/api.md
// shows the check in Python).
func Sign(secret string, ts int64, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "%d.", ts)
	mac.Write(body)
	return fmt.Sprintf("t=%d,v1=%s", ts, hex.EncodeToString(mac.Sum(nil)))
}

func newEventID() string {
	var b [12]byte
	rand.Read(b[:])
	return "evt_" + hex.EncodeToString(b[:])
}
