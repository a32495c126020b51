package e2e

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"mailgate/internal/dnstest"
	"mailgate/internal/mgtest"
	"mailgate/internal/smtptest"
)

// rcptAnswer logs into srv's submissions port as app@localhost and
// returns the reply to RCPT TO:<rcpt> ("250" when accepted).
func rcptAnswer(t *testing.T, srv *mgtest.Server, rcpt string) string {
	t.Helper()
	c := dialApp(t, srv)
	if err := c.Mail("app@localhost", nil); err != nil {
		t.Fatal(err)
	}
	var se *smtp.SMTPError
	if err := c.Rcpt(rcpt, nil); errors.As(err, &se) {
		return fmt.Sprintf("%d %d.%d.%d %s", se.Code, se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2], se.Message)
	} else if err != nil {
		t.Fatal(err)
	}
	return "250"
}

// TestClusterSharedSuppression is issue 20's "a suppression on A refuses
// on B": two nodes share the suppression list in a real redis-server; a
// hard bounce of a message sent through A (the remote MX answers RCPT
// 550 5.1.1) makes B refuse the address for that account at RCPT, and
// `mailgate suppression list` on B shows it. With Redis killed, the
// documented failure policy: A still refuses (its own file), B, which
// never recorded it, accepts, and lifting it fails (no node lifts it
// alone).
func TestClusterSharedSuppression(t *testing.T) {
	rd, raddr := startRedis(t)
	sink := smtptest.Start(t, smtptest.Config{RcptReplies: map[string][]string{"gone@remote.example": {"550 5.1.1 <gone@remote.example>: no such user"}}})
	dns := dnstest.Start(t, "remote.example. 300 IN MX 10 sink.test.", "sink.test. 300 IN A 127.0.0.1")
	opts := mgtest.Options{
		Protocols: []string{"submissions", "http"}, DNS: dns.Addr,
		Users:    map[string]string{"app@localhost": "import-pw"},
		Delivery: fmt.Sprintf("  port: %d\n", sink.Port()),
		Config:   fmt.Sprintf("cluster:\n  redis:\n    address: %s\n", raddr),
	}
	a, b := mgtest.Start(t, opts), mgtest.Start(t, opts)
	submitToGone(t, a)
	a.WaitLog("msg=suppressed")
	want := "550 5.1.1 <gone@remote.example> is suppressed for app@localhost"
	if got := rcptAnswer(t, b, "gone@remote.example"); !strings.HasPrefix(got, want) {
		t.Errorf("RCPT on B after the bounce on A: %q; want %q...", got, want)
	}
	if got := rcptAnswer(t, b, "other@remote.example"); got != "250" {
		t.Errorf("RCPT on B to another address: %q", got)
	}
	if out, _ := b.Run("", "suppression", "list", "-config", b.ConfigPath); !strings.Contains(out, "app@localhost  gone@remote.example") {
		t.Errorf("suppression list on B:\n%s", out)
	}

	rd.kill()
	if got := rcptAnswer(t, a, "gone@remote.example"); !strings.HasPrefix(got, want) {
		t.Errorf("RCPT on A with Redis down: %q; want its own record to refuse", got)
	}
	if got := rcptAnswer(t, b, "gone@remote.example"); got != "250" {
		t.Errorf("RCPT on B with Redis down: %q; want 250 (B never recorded it; docs/scale-out.md)", got)
	}
	if out, code := b.Run("", "suppression", "remove", "app@localhost", "gone@remote.example", "-config", b.ConfigPath); code == 0 || !strings.Contains(out, "not lifted") {
		t.Errorf("remove with Redis down: exit %d\n%s", code, out)
	}
}

func submitToGone(t *testing.T, srv *mgtest.Server) {
	t.Helper()
	c := dialApp(t, srv)
	msg := "From: app@localhost\r\nTo: gone@remote.example\r\nSubject: bounce\r\n\r\nhi\r\n"
	if err := c.SendMail("app@localhost", []string{"gone@remote.example"}, strings.NewReader(msg)); err != nil {
		t.Fatal(err)
	}
}
