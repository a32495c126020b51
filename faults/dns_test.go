package faults

import (
	"strings"
	"testing"

	"mailgate/internal/smtptest"
)

// TestDNSFailureDefers: when the MX lookup (or the MX host's address
// lookup) answers SERVFAIL or is never answered, the message is deferred
// and retried, never bounced; `mailgate queue list --json` shows it
// deferred with a 4.x.x status.
func TestDNSFailureDefers(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		fault func(w *sinkWorld)
	}{
		{"mx-servfail", func(w *sinkWorld) { w.dns.ServFail("sink.test") }},
		{"mx-timeout", func(w *sinkWorld) { w.dns.Timeout("sink.test") }},
		{"a-servfail", func(w *sinkWorld) { w.dns.ServFail("mx.sink.test") }},
		{"a-timeout", func(w *sinkWorld) { w.dns.Timeout("mx.sink.test") }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if testing.Short() && strings.HasSuffix(tc.name, "timeout") {
				t.Skip("waits for two DNS timeouts; runs without -short (CI)")
			}
			w := startSinkWorld(t, smtptest.Config{}, "")
			tc.fault(w)
			id := submit(t, w.srv, sinkRcp, faultMessage("dns-"+tc.name, 5))
			// Two failed attempts: the retry is deferred too.
			waitLogCount(t, w.srv, "msg=deferred msgid="+id, 2)
			list := queueList(t, w.srv)
			if len(list) != 1 || list[0].ID != id || len(list[0].Recipients) != 1 {
				t.Fatalf("queue list: %+v", list)
			}
			r := list[0].Recipients[0]
			if r.State != "deferred" || !strings.HasPrefix(r.Status, "4.") || r.Attempts < 2 {
				t.Errorf("recipient state %+v, want deferred with a 4.x.x status after 2 attempts", r.RcptState)
			}
			if strings.Contains(w.srv.Logs(), "msg=bounced") {
				t.Errorf("a DNS failure bounced the message:\n%s", w.srv.Logs())
			}
			if n := len(w.sink.Messages()); n != 0 {
				t.Errorf("sink got %d messages despite the DNS failure", n)
			}
			report(t, "deferred (state=%s status=%s attempts=%d): %s", r.State, r.Status, r.Attempts, r.LastError)
		})
	}
}
