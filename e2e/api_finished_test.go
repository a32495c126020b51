package e2e

import (
	"encoding/json"
	"testing"
)

// finishedStatus is the JSON of GET /api/v1/messages/{id}.
type finishedStatus struct {
	ID         string `json:"id"`
	Finished   string `json:"finished"`
	Recipients []struct {
		Recipient, State, Reply string
		Attempts                int
		Suppressed              bool
	} `json:"recipients"`
}

// TestAPIStatusAfterFinish is issue 19's GET for a message that left the
// queue: once every recipient is final (one delivered, one bounced hard
// at RCPT), GET still answers from the queue's record of finished
// messages, with the remote's reply to the content for the delivered
// one ("250 2.0.0 OK queued", the sink's), the refusal and the
// suppression for the bounced one; after a restart too; never to another
// account.
func TestAPIStatusAfterFinish(t *testing.T) {
	t.Parallel()
	e := startPromiseEnv(t, "")
	key, other := e.apikey(t, pApp), e.apikey(t, pBob)
	a := e.call(t, post(key, `{"from":"app@mg.test","to":["`+pRemote+`","`+pGone+`"],"subject":"finished","text":"x"}`))[0]
	var acc struct{ ID string }
	if json.Unmarshal([]byte(a.Body), &acc); a.Status != 202 {
		t.Fatalf("send: %+v", a)
	}
	e.srv.WaitLog("msg=removed msgid=" + acc.ID)
	get := func(k string) apiRequest {
		return apiRequest{Method: "GET", Path: "/api/v1/messages/" + acc.ID, Headers: map[string]string{"Authorization": "Bearer " + k}}
	}
	check := func(when string) {
		ans := e.call(t, get(key), get(other))
		var st finishedStatus
		if err := json.Unmarshal([]byte(ans[0].Body), &st); ans[0].Status != 200 || err != nil || st.ID != acc.ID || st.Finished == "" || len(st.Recipients) != 2 {
			t.Fatalf("%s: GET: %d %s", when, ans[0].Status, ans[0].Body)
		}
		d, b := st.Recipients[0], st.Recipients[1]
		if d.Recipient != pRemote || d.State != "delivered" || d.Reply != "250 2.0.0 OK queued" || d.Attempts != 1 || d.Suppressed {
			t.Errorf("%s: delivered recipient: %+v", when, d)
		}
		if b.Recipient != pGone || b.State != "bounced" || b.Reply != "550 5.1.1 <gone@remote.example>: no such user" || !b.Suppressed {
			t.Errorf("%s: bounced recipient: %+v", when, b)
		}
		if ans[1].Status != 404 {
			t.Errorf("%s: another account's finished message: %d %s", when, ans[1].Status, ans[1].Body)
		}
	}
	check("finished")
	e.srv.Stop()
	e.srv.Restart()
	check("after a restart")
}
