package queue

import (
	"encoding/json"
	"math/rand/v2"
	"time"

	"mailgate/internal/mailmsg"
)

// Recipient delivery states.
const (
	StatePending   = "pending"   // not tried yet
	StateDeferred  = "deferred"  // tried, will be retried at NextAttempt
	StateDelivered = "delivered" // final
	StateBounced   = "bounced"   // final; the sender was told (or the message was a bounce)
	StateHeld      = "held"      // shown for recipients of a held message
	// StateDelayWarning is no state: Options.Outcomes is told it once for
	// each recipient still deferred after queue.delay_warning.
	StateDelayWarning = "delay_warning"
)

// RcptState is one recipient's delivery record, kept in <id>.state.
type RcptState struct {
	State       string    `json:"state"`
	Attempts    int       `json:"attempts,omitempty"`
	NextAttempt time.Time `json:"next_attempt,omitempty"`
	LastError   string    `json:"last_error,omitempty"`
	// Status is the RFC 3463 code of the last outcome, RemoteMTA the host.
	Status    string    `json:"status,omitempty"`
	RemoteMTA string    `json:"remote_mta,omitempty"`
	History   []Attempt `json:"history,omitempty"`
	// Reported is set once the sender has been sent the final report for
	// this recipient, so a report is never sent twice.
	Reported bool `json:"reported,omitempty"`
	// Relayed and DSNPassed say how a delivered recipient left us (see
	// mailmsg.Result): to another server, and one that took over the
	// DSN request.
	Relayed   bool `json:"relayed,omitempty"`
	DSNPassed bool `json:"dsn_passed,omitempty"`
	// Reply is the remote's answer to the content of a delivered
	// recipient, such as "250 2.0.0 Ok: queued as 4dNt".
	Reply string `json:"reply,omitempty"`
}

// Attempt is one delivery try, for `mailgate queue show`.
type Attempt struct {
	Time   time.Time `json:"time"`
	Result string    `json:"result"` // delivered, deferred, bounced
	Detail string    `json:"detail,omitempty"`
}

// maxHistory bounds the attempts kept per recipient.
const maxHistory = 20

func (r *RcptState) final() bool { return r.State == StateDelivered || r.State == StateBounced }

func (r *RcptState) record(now time.Time, result, detail string) {
	r.History = append(r.History, Attempt{Time: now, Result: result, Detail: detail})
	if len(r.History) > maxHistory {
		r.History = r.History[len(r.History)-maxHistory:]
	}
}

// msgState is the mutable part of a queued message, in <id>.state.
type msgState struct {
	Recipients  []RcptState `json:"recipients"`
	Held        bool        `json:"held,omitempty"`
	DelayWarned bool        `json:"delay_warned,omitempty"`
}

func newMsgState(env *mailmsg.Envelope) msgState {
	st := msgState{Recipients: make([]RcptState, len(env.Recipients))}
	for i := range st.Recipients {
		st.Recipients[i].State = StatePending
	}
	return st
}

// loadState parses a .state file; a missing or mismatched one means every
// recipient is still pending (the message was accepted, never tried).
func loadState(env *mailmsg.Envelope, data []byte) msgState {
	st := newMsgState(env)
	if len(data) == 0 {
		return st
	}
	var saved msgState
	if json.Unmarshal(data, &saved) != nil || len(saved.Recipients) != len(env.Recipients) {
		return st
	}
	return saved
}

// backoff is the wait after the n-th failed attempt: first, doubling,
// capped at max, with ±10% jitter so retries to one host spread out.
func backoff(n int, first, max time.Duration) time.Duration {
	d := first
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	jitter := time.Duration(float64(d) * 0.1 * (2*rand.Float64() - 1))
	return d + jitter
}
