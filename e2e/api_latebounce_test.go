package e2e

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"mailgate/internal/smtptest"
)

// lateDSN is a bounce report (RFC 3464) from the remote for rcpt, naming
// the message by envID.
func lateDSN(envID, rcpt, status string) string {
	return "From: MAILER-DAEMON@remote.example\r\nTo: " + pApp + "\r\nSubject: Undelivered Mail Returned to Sender\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/report; report-type=delivery-status; boundary=\"rb\"\r\n\r\n" +
		"--rb\r\nContent-Type: text/plain\r\n\r\nThe mailbox is gone.\r\n" +
		"--rb\r\nContent-Type: message/delivery-status\r\n\r\n" +
		"Reporting-MTA: dns; mx.remote.example\r\nOriginal-Envelope-Id: " + envID + "\r\n\r\n" +
		"Final-Recipient: rfc822; " + rcpt + "\r\nAction: failed\r\nStatus: " + status + "\r\n" +
		"Diagnostic-Code: smtp; 550 " + status + " mailbox closed\r\n" +
		"--rb--\r\n"
}

// mailBounce hands a report to the MX listener as a remote would: from
// the null sender to the account's address.
func (e *promiseEnv) mailBounce(t *testing.T, msg string) {
	t.Helper()
	c, err := smtp.Dial(e.srv.Addr["smtp"])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("mx.remote.example"); err != nil {
		t.Fatal(err)
	}
	if err := c.SendMail("", []string{pApp}, strings.NewReader(msg)); err != nil {
		t.Fatalf("bounce report refused: %v", err)
	}
}

// TestLateBounceByMail is issue 19's RFC 3464 bounce that arrives later
// by mail: a message sent over the API is accepted by the remote (with
// mailgate's signed ENVID, the remote offering DSN); reports that do not
// carry that ENVID (a forged MAC) or that name someone who was not a
// recipient suppress no one; the real one (Action failed, 5.1.1) puts
// the recipient on the account's list, fires signed bounced and
// suppressed webhooks, shows in GET, and the next send to it is refused.
func TestLateBounceByMail(t *testing.T) {
	t.Parallel()
	e := startPromiseEnv(t, "")
	e.sink.Update(func(c *smtptest.Config) {
		c.Extensions = []string{"PIPELINING", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES", "DSN", "SIZE 52428800"}
	})
	rcv := startHookReceiver(t)
	if out, code := e.srv.Run("", "webhook", "add", pApp, rcv.url, "-config", e.srv.ConfigPath, "--events", "bounced,suppressed"); code != 0 {
		t.Fatalf("webhook add: %s", out)
	}
	key := e.apikey(t, pApp)
	send := post(key, `{"from":"app@mg.test","to":["`+pRemote+`"],"subject":"late","text":"x"}`)
	a := e.call(t, send)[0]
	var acc struct{ ID string }
	if json.Unmarshal([]byte(a.Body), &acc); a.Status != 202 {
		t.Fatalf("send: %+v", a)
	}
	e.srv.WaitLog("msg=removed msgid=" + acc.ID)
	var envID string
	for _, m := range e.sink.Messages() {
		if strings.Contains(string(m.Raw), "Subject: late") {
			envID = regexp.MustCompile(`ENVID=(\S+)`).FindStringSubmatch(m.MailParams + " ENVID=")[1]
		}
	}
	if !strings.HasPrefix(envID, "mg1."+acc.ID+".") {
		t.Fatalf("the message went out with ENVID %q; want mg1.%s.MAC", envID, acc.ID)
	}

	forged := "mg1." + acc.ID + "." + strings.Repeat("0", 20)
	e.mailBounce(t, lateDSN(forged, pRemote, "5.1.1"))
	e.srv.WaitLog(`msg="bounce report not matched" reason="no envelope id of ours"`)
	e.mailBounce(t, lateDSN(envID, "someone-else@remote.example", "5.1.1"))
	e.srv.WaitLog(`msg="bounce report not matched" reason="not a recipient of the message" msgid=` + acc.ID)
	list := apiRequest{Method: "GET", Path: "/api/v1/suppressions", Headers: map[string]string{"Authorization": "Bearer " + key}}
	if ans := e.call(t, list)[0]; strings.Contains(ans.Body, "remote.example") {
		t.Fatalf("a forged report suppressed: %s", ans.Body)
	}

	e.mailBounce(t, lateDSN(envID, pRemote, "5.1.1"))
	e.srv.WaitLog("msg=\"late bounce\" msgid=" + acc.ID + " account=app@mg.test rcpt=" + pRemote + " status=5.1.1 suppressed=true")
	got := rcv.events(t, 2)
	types := map[string]bool{}
	for _, p := range got {
		var ev map[string]any
		json.Unmarshal(p.body, &ev)
		if ev["queue_id"] != acc.ID || ev["recipient"] != pRemote || !strings.Contains(asString(ev["reply"]), "550 5.1.1 mailbox closed") {
			t.Errorf("event: %s", p.body)
		}
		types[asString(ev["type"])] = true
	}
	if !types["bounced"] || !types["suppressed"] {
		t.Errorf("event types: %v; want bounced and suppressed", types)
	}
	get := apiRequest{Method: "GET", Path: "/api/v1/messages/" + acc.ID, Headers: map[string]string{"Authorization": "Bearer " + key}}
	ans := e.call(t, get, send)
	var st finishedStatus
	json.Unmarshal([]byte(ans[0].Body), &st)
	if len(st.Recipients) != 1 || st.Recipients[0].State != "bounced" || !st.Recipients[0].Suppressed {
		t.Errorf("GET after the late bounce: %s", ans[0].Body)
	}
	if ans[1].Status != 422 || !strings.Contains(ans[1].Body, `"code":"suppressed"`) {
		t.Errorf("send after the late bounce: %d %s", ans[1].Status, ans[1].Body)
	}
}
