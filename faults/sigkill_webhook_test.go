package faults

import (
	"encoding/json"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"mailgate/internal/mgtest"
	"mailgate/internal/smtptest"
)

// eventSink is a loopback webhook receiver that takes every POST (204)
// and counts, per queue ID, the delivered events and their event IDs.
type eventSink struct {
	url string
	mu  sync.Mutex
	ids map[string]map[string]bool // queue ID -> event IDs of delivered events
}

func startEventSink(t *testing.T) *eventSink {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &eventSink{url: "http://" + ln.Addr().String() + "/hook", ids: map[string]map[string]bool{}}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev struct{ ID, Type, QueueID string }
		body, _ := io.ReadAll(r.Body)
		json.Unmarshal(body, &struct {
			ID      *string `json:"id"`
			Type    *string `json:"type"`
			QueueID *string `json:"queue_id"`
		}{&ev.ID, &ev.Type, &ev.QueueID})
		if ev.Type == "delivered" {
			s.mu.Lock()
			if s.ids[ev.QueueID] == nil {
				s.ids[ev.QueueID] = map[string]bool{}
			}
			s.ids[ev.QueueID][ev.ID] = true
			s.mu.Unlock()
		}
		w.WriteHeader(http.StatusNoContent)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return s
}

// missing returns the queue IDs of ids without a delivered event yet.
func (s *eventSink) missing(ids map[string]string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, id := range ids {
		if len(s.ids[id]) == 0 {
			out = append(out, id)
		}
	}
	return out
}

// TestSIGKILLWebhookEvents is issue 19's webhook crash window: mailgate
// is killed (SIGKILL) again and again a few milliseconds after the sink
// took a message, that is right when the queue records a delivery, while
// clients submit and it delivers; restarted each time. Every message the
// clients got 250 for arrives, and for each one the account's webhook
// receives a delivered event: no outcome the queue kept lost its event.
// A message delivered again after a kill (the allowed duplicate) may
// give its event twice, under the same event ID.
func TestSIGKILLWebhookEvents(t *testing.T) {
	t.Parallel()
	w := startSinkWorld(t, smtptest.Config{}, "  per_destination: 4\n")
	hooks := startEventSink(t)
	if out, code := w.srv.Run("", "webhook", "add", user, hooks.url, "-config", w.srv.ConfigPath, "--events", "delivered"); code != 0 {
		t.Fatalf("webhook add: %s", out)
	}
	l := &ledger{acked: map[string]string{}, sent: map[string]bool{}}
	rounds := killRounds()
	for r := range rounds {
		l.burstRound(t, w, r, 4, func() { killAfterDelivery(w) })
		w.srv.Restart()
	}
	waitQueueEmpty(t, w.srv)
	deadline := time.Now().Add(mgtest.Timeout)
	var missing []string
	for time.Now().Before(deadline) {
		if missing = hooks.missing(l.acked); len(missing) == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(missing) > 0 {
		t.Errorf("%d of %d delivered messages never got a delivered event, such as %s", len(missing), len(l.acked), strings.Join(missing[:min(5, len(missing))], " "))
	}
	hooks.mu.Lock()
	twice := 0
	for _, evs := range hooks.ids {
		if len(evs) > 1 {
			twice++
		}
	}
	hooks.mu.Unlock()
	if twice > 0 {
		t.Errorf("%d messages got delivered events under two IDs; the same outcome told again must keep its ID", twice)
	}
	report(t, "kills=%d acknowledged=%d without event=%d", rounds, len(l.acked), len(missing))
}

// killAfterDelivery waits until the sink takes one more message, then
// kills mailgate 0 to 10 ms later: around the moment the queue records
// that delivery.
func killAfterDelivery(w *sinkWorld) {
	n := len(w.sink.Messages())
	for deadline := time.Now().Add(mgtest.Timeout); len(w.sink.Messages()) == n && time.Now().Before(deadline); {
		time.Sleep(200 * time.Microsecond)
	}
	time.Sleep(time.Duration(rand.IntN(10000)) * time.Microsecond)
	w.srv.Kill()
}
