package queue

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"mailgate/internal/mailmsg"
)

// ErrNotFound is returned by admin operations for an unknown queue ID.
var ErrNotFound = errors.New("no such message in the queue")

// MessageInfo is a queued message as `mailgate queue list/show` shows it.
type MessageInfo struct {
	ID         string          `json:"id"`
	Received   time.Time       `json:"received"`
	From       string          `json:"from"`
	Account    string          `json:"account,omitempty"` // who submitted it
	Size       int64           `json:"size"`
	Held       bool            `json:"held"`
	Recipients []RecipientInfo `json:"recipients"`
	Headers    string          `json:"headers,omitempty"` // show only
}

// RecipientInfo is one recipient's delivery state.
type RecipientInfo struct {
	Addr string `json:"addr"`
	Orig string `json:"orig,omitempty"`
	RcptState
}

// List returns every queued message, oldest first.
func (q *Queue) List() []MessageInfo { return q.Select(Filter{}) }

func (q *Queue) info(m *message) MessageInfo {
	mi := MessageInfo{ID: m.env.ID, Received: m.env.Received, From: m.env.From, Account: m.env.Account, Size: m.size, Held: m.st.Held}
	if mi.Size == 0 {
		if st, err := os.Stat(filepath.Join(q.spool.Dir(), m.env.ID+msgSuffix)); err == nil {
			mi.Size = st.Size()
		}
	}
	for i, r := range m.st.Recipients {
		ri := RecipientInfo{Addr: m.env.Recipients[i].Addr, Orig: m.env.Recipients[i].Orig, RcptState: r}
		if m.st.Held && !r.final() {
			ri.State = StateHeld
		}
		ri.History = nil
		mi.Recipients = append(mi.Recipients, ri)
	}
	return mi
}

// Show returns one message with per-recipient history and its headers.
func (q *Queue) Show(id string) (MessageInfo, error) {
	q.mu.Lock()
	m := q.msgs[id]
	var mi MessageInfo
	if m != nil {
		mi = q.info(m)
		for i := range mi.Recipients {
			mi.Recipients[i].History = m.st.Recipients[i].History
		}
	}
	q.mu.Unlock()
	if m == nil {
		return MessageInfo{}, ErrNotFound
	}
	if _, raw, err := q.spool.ReadMessage(id); err == nil {
		mi.Headers = string(headerOf(raw))
	}
	return mi, nil
}

// Flush makes deferred recipients due now: of one message (id), of one
// destination domain, or all (both empty). It returns how many.
func (q *Queue) Flush(id, domain string) (int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if id != "" && q.msgs[id] == nil {
		return 0, ErrNotFound
	}
	n := 0
	now := q.now()
	for _, m := range q.msgs {
		if (id != "" && m.env.ID != id) || m.st.Held {
			continue
		}
		changed := false
		for i := range m.st.Recipients {
			r := &m.st.Recipients[i]
			if r.final() || m.inFlight[i] || (domain != "" && mailmsg.Domain(m.env.Recipients[i].Addr) != domain) {
				continue
			}
			r.NextAttempt = now
			changed = true
			n++
		}
		if changed {
			q.indexMessage(m)
		}
	}
	q.poke()
	return n, nil
}

// Hold stops delivery attempts for a message until Release.
func (q *Queue) Hold(id string) error { return q.setHeld(id, true) }

// Release lets a held message be delivered at once.
func (q *Queue) Release(id string) error { return q.setHeld(id, false) }

func (q *Queue) setHeld(id string, held bool) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	m := q.msgs[id]
	if m == nil {
		return ErrNotFound
	}
	m.st.Held = held
	if !held {
		for i := range m.st.Recipients {
			if !m.st.Recipients[i].final() {
				m.st.Recipients[i].NextAttempt = q.now()
			}
		}
	}
	if err := q.saveState(m); err != nil {
		return err
	}
	q.indexMessage(m)
	q.log.Info(map[bool]string{true: "held", false: "released"}[held], "msgid", id)
	q.poke()
	return nil
}

// Delete removes a message without telling its sender.
func (q *Queue) Delete(id string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	m := q.msgs[id]
	if m == nil {
		return ErrNotFound
	}
	m.deleted = true
	q.dropRaw(m)
	delete(q.msgs, id)
	q.unindexMessage(m)
	q.log.Info("deleted by administrator", "msgid", id)
	return q.spool.Remove(id)
}

// Bounce gives up on every recipient not yet delivered and tells the
// sender, as if the maximum age had passed.
func (q *Queue) Bounce(id string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	m := q.msgs[id]
	if m == nil {
		return ErrNotFound
	}
	if len(m.inFlight) > 0 {
		return fmt.Errorf("message %s is being delivered right now; try again in a moment", id)
	}
	now := q.now()
	for i := range m.st.Recipients {
		r := &m.st.Recipients[i]
		if !r.final() {
			r.State, r.Status = StateBounced, "5.0.0"
			r.LastError = "returned to sender by the administrator (last error: " + r.LastError + ")"
			r.record(now, StateBounced, r.LastError)
		}
	}
	q.log.Info("bounced by administrator", "msgid", id)
	q.settle(m, now)
	return nil
}
