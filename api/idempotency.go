package api

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"mailgate/internal/safefile"
)

// idempotencyTTL is how long an Idempotency-Key's answer is kept.
const idempotencyTTL = 24 * time.Hour

// record is one Idempotency-Key's file. Pending is written, durably,
// before the message goes to the queue, with the queue ID it will have;
// the answer replaces it once the message is on stable storage. A retry
// that finds a pending record (the server stopped in between) looks the
// ID up in the queue: found, it answers 202 with it and nothing is sent
// twice; not found, it sends again under the same ID.
type record struct {
	Account string    `json:"account"`
	Request string    `json:"request_sha256"`
	Created time.Time `json:"created"`
	Pending string    `json:"pending_id,omitempty"`
	Answer  *answer   `json:"answer,omitempty"`
}

// idempotency keeps records in <dir>/idempotency, one file per account
// and key, and serialises requests with the same key.
type idempotency struct {
	dir string
	now func() time.Time

	mu    sync.Mutex
	busy  map[string]chan struct{}
	prune *pruner
}

func openIdempotency(dir string, now func() time.Time) (*idempotency, error) {
	d := filepath.Join(dir, "idempotency")
	if err := os.MkdirAll(d, 0o700); err != nil {
		return nil, err
	}
	p := &pruner{dir: d, ttl: idempotencyTTL + time.Hour, now: now}
	return &idempotency{dir: d, now: now, busy: map[string]chan struct{}{}, prune: p}, nil
}

// validIdempotencyKey: 1 to 255 printable ASCII characters.
func validIdempotencyKey(k string) bool {
	if k == "" || len(k) > 255 {
		return false
	}
	return !strings.ContainsFunc(k, func(r rune) bool { return r < 0x21 || r > 0x7e })
}

// lock waits until no other request holds account's key, and returns the
// record's file name and the unlock function.
func (m *idempotency) lock(account, key string) (string, func()) {
	sum := sha256.Sum256([]byte(strings.ToLower(account) + "\x00" + key))
	name := hex.EncodeToString(sum[:])
	var ch chan struct{}
	for {
		m.mu.Lock()
		other, held := m.busy[name]
		if !held {
			ch = make(chan struct{})
			m.busy[name] = ch
			m.mu.Unlock()
			break
		}
		m.mu.Unlock()
		<-other
	}
	m.prune.maybe()
	return name, func() {
		m.mu.Lock()
		delete(m.busy, name)
		m.mu.Unlock()
		close(ch)
	}
}

// load returns the live record under name, if any.
func (m *idempotency) load(name string) (*record, error) {
	b, err := os.ReadFile(filepath.Join(m.dir, name+".json"))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var rec record
	if err := json.Unmarshal(b, &rec); err != nil || m.now().Sub(rec.Created) > idempotencyTTL {
		return nil, nil // a torn or expired record is no record
	}
	return &rec, nil
}

// save writes rec durably.
func (m *idempotency) save(name string, rec *record) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return safefile.WriteFile(filepath.Join(m.dir, name+".json"), b, 0o600)
}

// keep reports whether an answer is final for its key: acceptance and the
// client's own mistakes are; a rate limit, a temporary refusal or an
// internal error is not, so a retry with the key runs again.
func keep(a answer) bool {
	switch a.Status {
	case 202, 400, 403, 413, 415, 422:
		return true
	}
	return false
}
