package e2e

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestSuppressionAfterHardBounce is issue 19's "never mail a hard-bounced
// address twice": a message sent over the API to an address the remote MX
// refuses with 550 5.1.1 at RCPT puts it on the account's suppression
// list; the next send to it is refused at once over HTTP (422, naming it)
// and over SMTP (550 5.1.1 ... suppressed), while other accounts may still
// mail it; the list shows it (API and CLI), and once lifted it may be
// mailed again.
func TestSuppressionAfterHardBounce(t *testing.T) {
	t.Parallel()
	e := startPromiseEnv(t, "")
	key := e.apikey(t, pApp)
	send := post(key, `{"from":"app@mg.test","to":["`+pGone+`"],"subject":"api-suppress","text":"x"}`)
	first := e.call(t, send)[0]
	var acc struct{ ID string }
	if json.Unmarshal([]byte(first.Body), &acc); first.Status != 202 {
		t.Fatalf("first send: %+v", first)
	}
	e.srv.WaitLog("msg=suppressed msgid=" + acc.ID + " account=app@mg.test rcpt=" + pGone + " status=5.1.1")
	list := apiRequest{Method: "GET", Path: "/api/v1/suppressions", Headers: map[string]string{"Authorization": "Bearer " + key}}
	lift := apiRequest{Method: "DELETE", Path: "/api/v1/suppressions/" + pGone, Headers: map[string]string{"Authorization": "Bearer " + key}}
	ans := e.call(t, send, list)
	want := `{"error":{"code":"suppressed","message":"gone@remote.example bounced hard before and is suppressed for your account; lift it with DELETE /api/v1/suppressions/gone@remote.example if the address works again","field":"to","smtp":"550 5.1.1 <gone@remote.example> is suppressed"}}` + "\n"
	if ans[0].Status != 422 || ans[0].Body != want {
		t.Errorf("second send over HTTP: %d %s", ans[0].Status, ans[0].Body)
	}
	if !strings.Contains(ans[1].Body, `"address":"gone@remote.example","reason":"550 5.1.1 <gone@remote.example>: no such user"`) {
		t.Errorf("GET /api/v1/suppressions: %s", ans[1].Body)
	}
	msg := "From: " + pApp + "\r\nTo: " + pGone + "\r\nSubject: smtp-suppress\r\n\r\nhi\r\n"
	if got := e.runSwaks(t, "starttls", pApp, pPassword, pApp, []string{pGone}, msg); got != "550 5.1.1 <gone@remote.example> is suppressed for app@mg.test: it bounced hard before; lift it with mailgate suppression remove" {
		t.Errorf("over SMTP: %s", got)
	}
	own := "From: own@mg.test\r\nTo: " + pGone + "\r\nSubject: other-account\r\n\r\nhi\r\n"
	if got := e.runSwaks(t, "starttls", "own@mg.test", pUsers["own@mg.test"], "own@mg.test", []string{pGone}, own); !strings.HasPrefix(got, "250 ") {
		t.Errorf("another account: %s", got)
	}
	out, _ := e.srv.Run("", "suppression", "list", pApp, "-config", e.srv.ConfigPath)
	if !strings.Contains(out, "app@mg.test  gone@remote.example") || !strings.Contains(out, acc.ID) {
		t.Errorf("suppression list:\n%s", out)
	}
	ans = e.call(t, lift, lift, send)
	if ans[0].Status != 204 || ans[1].Status != 404 || ans[2].Status != 202 {
		t.Errorf("lift, lift again, send: %d %d %d %s", ans[0].Status, ans[1].Status, ans[2].Status, ans[2].Body)
	}
}
