package bounces

import (
	"strings"
	"testing"
)

const dsn = "From: MAILER-DAEMON@mx.example\r\nTo: app@mg.test\r\nSubject: Undelivered\r\nMIME-Version: 1.0\r\n" +
	"Content-Type: multipart/report; report-type=delivery-status; boundary=\"b1\"\r\n\r\n" +
	"--b1\r\nContent-Type: text/plain\r\n\r\nSorry.\r\n" +
	"--b1\r\nContent-Type: message/delivery-status\r\n\r\n" +
	"Reporting-MTA: dns; mx.example\r\nOriginal-Envelope-Id: ENVID\r\n\r\n" +
	"Final-Recipient: rfc822; carol@remote.example\r\nAction: failed\r\nStatus: 5.1.1\r\n" +
	"Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n\r\n" +
	"Final-Recipient: rfc822; dan@remote.example\r\nAction: failed\r\nStatus: 5.2.2\r\n\r\n" +
	"Final-Recipient: rfc822; eve@remote.example\r\nAction: delayed\r\nStatus: 4.4.1\r\n" +
	"--b1--\r\n"

// TestParse reads each recipient block; only an address failure counts.
func TestParse(t *testing.T) {
	rep, err := Parse([]byte(dsn))
	if err != nil || rep.EnvID != "ENVID" || len(rep.Recipients) != 3 {
		t.Fatalf("Parse: %+v %v", rep, err)
	}
	want := []struct {
		addr, status string
		failed       bool
	}{{"carol@remote.example", "5.1.1", true}, {"dan@remote.example", "5.2.2", false}, {"eve@remote.example", "4.4.1", false}}
	for i, w := range want {
		r := rep.Recipients[i]
		if r.Addr != w.addr || r.Status != w.status || r.Failed() != w.failed {
			t.Errorf("recipient %d: %+v failed=%v; want %+v", i, r, r.Failed(), w)
		}
	}
	if rep.Recipients[0].Diagnostic != "550 5.1.1 user unknown" {
		t.Errorf("diagnostic: %q", rep.Recipients[0].Diagnostic)
	}
	if _, err := Parse([]byte("Subject: hi\r\n\r\nplain\r\n")); err != ErrNotReport {
		t.Errorf("plain message: %v", err)
	}
}

// TestTracker: an envelope ID made here names its queue ID; a changed
// MAC, queue ID or another key's does not.
func TestTracker(t *testing.T) {
	a, _ := OpenTracker(t.TempDir())
	b, _ := OpenTracker(t.TempDir())
	id := "661df7429fa61be2cc4"
	env := a.EnvID(id)
	if got, ok := a.QueueID(env); !ok || got != id {
		t.Fatalf("QueueID(%q) = %q %v", env, got, ok)
	}
	flip := "a"
	if strings.HasSuffix(env, "a") {
		flip = "b"
	}
	forged := []string{strings.Replace(env, id, "661df7429fa61be2cc5", 1), env[:len(env)-1] + flip, b.EnvID(id), id, ""}
	for _, f := range forged {
		if _, ok := a.QueueID(f); ok {
			t.Errorf("forged envelope ID %q accepted", f)
		}
	}
}
