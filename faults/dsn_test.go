package faults

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"mailgate/internal/smtptest"
)

// sinkExts are smtptest's default EHLO keywords plus DSN.
var sinkExts = []string{"PIPELINING", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES", "SIZE 52428800", "DSN"}

// sendDSN submits msg to to with RET=HDRS, ENVID and NOTIFY=SUCCESS,FAILURE
// plus ORCPT, as an application that wants to know would.
func sendDSN(t *testing.T, w *sinkWorld, to, msg string) string {
	t.Helper()
	c, err := dialSubmission(w.srv)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail(user, &smtp.MailOptions{Return: smtp.DSNReturnHeaders, EnvelopeID: "env-42"}); err != nil {
		t.Fatal(err)
	}
	ro := &smtp.RcptOptions{Notify: []smtp.DSNNotify{smtp.DSNNotifySuccess, smtp.DSNNotifyFailure},
		OriginalRecipientType: smtp.DSNAddressTypeRFC822, OriginalRecipient: to}
	if err := c.Rcpt(to, ro); err != nil {
		t.Fatal(err)
	}
	wc, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	wc.Write([]byte(msg))
	resp, err := wc.CloseWithResponse()
	if err != nil {
		t.Fatal(err)
	}
	m := queuedRE.FindStringSubmatch(resp.StatusText)
	if m == nil {
		t.Fatalf("250 without a queue ID: %q", resp.StatusText)
	}
	return m[1]
}

// TestDSNSuccess: an application asks for a success report (RFC 3461).
// When the next hop offers DSN, mailgate passes RET, ENVID, NOTIFY and
// ORCPT on and sends no report of its own (the next hop will: two would
// be one too many). When it does not, mailgate's report says
// "Action: relayed", since no report will come from further on. A local
// mailbox gets "Action: delivered".
func TestDSNSuccess(t *testing.T) {
	t.Parallel()
	t.Run("next-hop-offers-dsn", func(t *testing.T) {
		t.Parallel()
		w := startSinkWorld(t, smtptest.Config{Extensions: sinkExts}, "")
		id := sendDSN(t, w, sinkRcp, faultMessage("dsn-passed", 3))
		w.srv.WaitLog("msg=delivered msgid=" + id)
		waitQueueEmpty(t, w.srv)
		got := w.sink.Messages()
		if len(got) != 1 {
			t.Fatalf("sink got %d messages, want 1", len(got))
		}
		if p := got[0].MailParams; !strings.Contains(p, "RET=HDRS") || !strings.Contains(p, "ENVID=env-42") {
			t.Errorf("MAIL parameters at the next hop: %q, want RET=HDRS ENVID=env-42", p)
		}
		// The address type is case-insensitive (RFC 3461 section 4.2).
		if p := strings.ToLower(got[0].RcptParams[0]); !strings.Contains(p, "notify=success,failure") || !strings.Contains(p, "orcpt=rfc822;"+sinkRcp) {
			t.Errorf("RCPT parameters at the next hop: %q, want NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;%s", p, sinkRcp)
		}
		if strings.Contains(w.srv.Logs(), "report queued") {
			t.Errorf("mailgate sent a report of its own although the next hop took the DSN request:\n%s", w.srv.Logs())
		}
	})
	t.Run("next-hop-without-dsn", func(t *testing.T) {
		t.Parallel()
		w := startSinkWorld(t, smtptest.Config{}, "")
		id := sendDSN(t, w, sinkRcp, faultMessage("dsn-relayed", 3))
		w.srv.WaitLog("msg=delivered msgid=" + id)
		w.srv.WaitLog("msg=delivered msgid=" + reportID(t, w, id))
		checkReport(t, w, "Action: relayed", "Original-Envelope-Id: env-42", "Final-Recipient: rfc822; "+sinkRcp)
	})
	t.Run("local", func(t *testing.T) {
		t.Parallel()
		w := startSinkWorld(t, smtptest.Config{Extensions: sinkExts}, "")
		id := sendDSN(t, w, user, faultMessage("dsn-local", 3))
		w.srv.WaitLog("msg=delivered msgid=" + id)
		w.srv.WaitLog("msg=delivered msgid=" + reportID(t, w, id))
		checkReport(t, w, "Action: delivered", "Original-Envelope-Id: env-42", "Final-Recipient: rfc822; "+user)
	})
}

// reportID waits for the report on message id and returns its queue ID.
func reportID(t *testing.T, w *sinkWorld, id string) string {
	t.Helper()
	line := w.srv.WaitLog(`msg="report queued" msgid=` + id)
	_, rest, _ := strings.Cut(line, "report_id=")
	return strings.Fields(rest)[0]
}

// checkReport finds the one report in the sender's mailbox and checks
// that it holds every want.
func checkReport(t *testing.T, w *sinkWorld, want ...string) {
	t.Helper()
	var reports []string
	for _, sub := range []string{"new", "cur"} {
		files, _ := filepath.Glob(filepath.Join(w.srv.MailDir(), user, sub, "*"))
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(data), "multipart/report") {
				reports = append(reports, string(data))
			}
		}
	}
	if len(reports) != 1 {
		t.Fatalf("%d reports in %s's mailbox, want 1", len(reports), user)
	}
	for _, s := range want {
		if !strings.Contains(reports[0], s) {
			t.Errorf("report lacks %q:\n%s", s, reports[0])
		}
	}
}
