package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"mailgate/internal/dnstest"
	"mailgate/internal/mgtest"
	"mailgate/internal/smtptest"
	"mailgate/internal/testenv"
	"mailgate/queue"
)

// TestDeliveryAndQueueCLI follows one message from swaks through mailgate
// to a remote MX found in DNS: one recipient delivered, one deferred, one
// bounced; then steers the deferred one with `mailgate queue`.
func TestDeliveryAndQueueCLI(t *testing.T) {
	t.Parallel()
	swaks := testenv.Tool(t, "swaks")
	remote := smtptest.Start(t, smtptest.Config{RcptReplies: map[string][]string{
		"later@remote.test": {"451 4.7.1 Greylisted, try again in 5 minutes"},
		"gone@remote.test":  {"550 5.1.1 <gone@remote.test>: Recipient address rejected"},
	}})
	dns := dnstest.Start(t, "remote.test. 60 IN MX 10 mx.remote.test.", "mx.remote.test. 60 IN A 127.0.0.1")
	srv := mgtest.Start(t, mgtest.Options{
		Protocols: []string{"smtp", "submission", "http"},
		DNS:       dns.Addr,
		Delivery:  fmt.Sprintf("  port: %d\n", remote.Port()),
		Users:     map[string]string{"app@localhost": "app pass"},
	})
	host, port, _ := strings.Cut(srv.Addr["submission"], ":")
	out, err := exec.Command(swaks, "--server", host, "--port", port, "--tls",
		"--auth", "PLAIN", "--auth-user", "app@localhost", "--auth-password", "app pass",
		"--from", "app@localhost", "--to", "ok@remote.test,later@remote.test,gone@remote.test",
		"--header", "Subject: queue cli", "--timeout", "30").CombinedOutput()
	m := queuedRE.FindStringSubmatch(string(out))
	if err != nil || m == nil {
		t.Fatalf("swaks: %v\n%s", err, out)
	}
	id := m[2]

	got := remote.WaitMessages(t, 1, mgtest.Timeout)
	if len(got[0].Rcpts) != 1 || got[0].Rcpts[0] != "ok@remote.test" || !strings.Contains(string(got[0].Raw), "Subject: queue cli") {
		t.Fatalf("remote received %v %q", got[0].Rcpts, got[0].Raw)
	}
	srv.WaitLog("msg=deferred msgid=" + id)

	// The bounce for gone@ went to app@localhost's mailbox.
	bounce := waitMailbox(t, srv, id, 1, "app@localhost", "gone@remote.test")
	for _, want := range []string{"Content-Type: multipart/report", "Action: failed", "Status: 5.1.1", "Diagnostic-Code: smtp; 550 5.1.1 <gone@remote.test>: Recipient address rejected"} {
		if !strings.Contains(bounce, want) {
			t.Errorf("bounce lacks %q:\n%s", want, bounce)
		}
	}

	list := queueCmd(t, srv, 0, "list")
	for _, want := range []string{id, "later@remote.test", "deferred", "451 4.7.1 Greylisted, try again in 5 minutes", "gone@remote.test", "bounced"} {
		if !strings.Contains(list, want) {
			t.Errorf("queue list lacks %q:\n%s", want, list)
		}
	}
	var infos []queue.MessageInfo
	if err := json.Unmarshal([]byte(queueCmd(t, srv, 0, "list", "--json")), &infos); err != nil || len(infos) != 1 || infos[0].ID != id {
		t.Fatalf("queue list --json: %v %+v", err, infos)
	}
	// Listings filtered by the index: domain, state, age.
	for _, c := range []struct {
		args []string
		n    int
	}{
		{[]string{"--domain", "remote.test"}, 1}, {[]string{"--domain", "REMOTE.test."}, 1}, {[]string{"--domain", "other.test"}, 0},
		{[]string{"--state", "deferred"}, 1}, {[]string{"--state", "pending"}, 0},
		{[]string{"--domain", "remote.test", "--state", "bounced"}, 1},
		{[]string{"--older-than", "0s"}, 1}, {[]string{"--older-than", "24h"}, 0},
	} {
		var got []queue.MessageInfo
		out := queueCmd(t, srv, 0, append([]string{"list", "--json"}, c.args...)...)
		if err := json.Unmarshal([]byte(out), &got); err != nil || len(got) != c.n {
			t.Errorf("queue list %v: %v, %d message(s), want %d:\n%s", c.args, err, len(got), c.n, out)
		}
	}
	if out := queueCmd(t, srv, 1, "list", "--state", "stuck"); !strings.Contains(out, "state must be pending, deferred, held, delivered or bounced") {
		t.Errorf("queue list --state stuck: %s", out)
	}
	show := queueCmd(t, srv, 0, "show", id)
	for _, want := range []string{"Recipient: later@remote.test", "state: deferred, attempts: 1", "Subject: queue cli"} {
		if !strings.Contains(show, want) {
			t.Errorf("queue show lacks %q:\n%s", want, show)
		}
	}

	if out := queueCmd(t, srv, 0, "hold", id); !strings.Contains(out, id+": held") {
		t.Errorf("hold: %s", out)
	}
	if out := queueCmd(t, srv, 0, "list"); !strings.Contains(out, "held") {
		t.Errorf("list after hold:\n%s", out)
	}
	queueCmd(t, srv, 0, "release", id)
	srv.WaitLog("attempt=2")
	if out := queueCmd(t, srv, 1, "delete", "0000000000000000000"); !strings.Contains(out, "no such message in the queue") {
		t.Errorf("delete of an unknown ID: %s", out)
	}
	if out := queueCmd(t, srv, 0, "bounce", id); !strings.Contains(out, id+": bounced") {
		t.Errorf("bounce: %s", out)
	}
	waitMailbox(t, srv, id, 2, "app@localhost", "later@remote.test")
	// The report has been delivered and left too.
	srv.WaitLogN("msg=removed", 3)
	if out := queueCmd(t, srv, 0, "list"); !strings.Contains(out, "-- 0 message(s)") {
		t.Errorf("queue not empty after bounce:\n%s", out)
	}
}

func queueCmd(t *testing.T, srv *mgtest.Server, wantCode int, args ...string) string {
	t.Helper()
	out, code := srv.Run("", append(append([]string{"queue"}, args...), "-config", srv.ConfigPath)...)
	if code != wantCode {
		t.Fatalf("mailgate queue %v: exit %d, want %d:\n%s", args, code, wantCode, out)
	}
	return out
}

var reportIDRE = regexp.MustCompile(`report_id=([0-9a-f]{19})`)

// waitMailbox waits until the n-th report about message id has been
// delivered locally, then returns the message in account's INBOX that
// contains substr.
func waitMailbox(t *testing.T, srv *mgtest.Server, id string, n int, account, substr string) string {
	t.Helper()
	line := srv.WaitLogN(`msg="report queued" msgid=`+id, n)
	rid := reportIDRE.FindStringSubmatch(line)
	if rid == nil {
		t.Fatalf("no report_id in %q", line)
	}
	srv.WaitLog("msg=delivered msgid=" + rid[1])
	files, _ := filepath.Glob(filepath.Join(srv.MailDir(), account, "new", "*"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if strings.Contains(string(b), substr) {
			return string(b)
		}
	}
	t.Fatalf("no message with %q in %s's INBOX", substr, account)
	return ""
}
