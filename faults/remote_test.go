package faults

import (
	"strings"
	"testing"

	"mailgate/internal/smtptest"
)

// TestRemoteFaults: a remote that misbehaves once (drops the connection
// after the final dot, answers 4xx, stalls at DATA or after the dot,
// never greets, or greets with 421) gets the message again on the next
// attempt. The message is deferred, then delivered intact; the sender
// is never sent a bounce. Copies the remote recorded but never
// acknowledged (drop or stall after the dot) are the RFC 1047 duplicate
// every SMTP client must accept; the last copy is the acknowledged one.
func TestRemoteFaults(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		cfg    smtptest.Config
		copies int // copies the sink records in total
	}{
		{"drop-after-dot", smtptest.Config{DropAfterDot: true}, 2},
		{"4xx-then-250", smtptest.Config{DataReplies: []string{"451 4.3.0 try again later", "250 2.0.0 OK"}}, 1},
		{"hang-at-data", smtptest.Config{Hang: smtptest.HangData}, 1},
		{"hang-after-dot", smtptest.Config{Hang: smtptest.HangDot}, 2},
		{"hang-at-greeting", smtptest.Config{Hang: smtptest.HangGreeting}, 1},
		{"421-greeting", smtptest.Config{Greeting: "421 4.3.2 too busy, come back later"}, 1},
		{"rcpt-450", smtptest.Config{RcptReplies: map[string][]string{sinkRcp: {"450 4.2.1 mailbox busy", "250 2.1.5 OK"}}}, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := startSinkWorld(t, tc.cfg, "")
			msg := faultMessage("remote-"+tc.name, 50)
			id := submit(t, w.srv, sinkRcp, msg)
			line := w.srv.WaitLog("msg=deferred msgid=" + id)
			// The first attempt failed; the remote now behaves.
			w.sink.Update(func(c *smtptest.Config) {
				c.DropAfterDot, c.Hang, c.Greeting = false, "", ""
			})
			w.srv.WaitLog("msg=delivered msgid=" + id)
			waitQueueEmpty(t, w.srv)
			got := w.sink.Messages()
			if len(got) != tc.copies {
				t.Errorf("sink recorded %d copies, want %d", len(got), tc.copies)
			}
			if len(got) > 0 {
				last := string(dotUnstuff(got[len(got)-1].Raw))
				if !strings.HasSuffix(last, msg) {
					t.Errorf("delivered message damaged:\n%.500s", last)
				}
			}
			if strings.Contains(w.srv.Logs(), "msg=bounced") || strings.Contains(w.srv.Logs(), "msg=\"report queued\"") {
				t.Errorf("a temporary fault produced a bounce:\n%s", w.srv.Logs())
			}
			report(t, "deferred then delivered; first attempt: %s", strings.TrimSpace(line[strings.Index(line, "reason="):]))
		})
	}
}
