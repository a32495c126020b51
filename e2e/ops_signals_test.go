package e2e

import (
	"bytes"
	"net/textproto"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/emersion/go-smtp"
)

// TestOpsSIGTERMDuringLoadLosesNothing: submission clients (STARTTLS,
// AUTH) and MX clients send in a loop; the server gets SIGTERM once some messages were acknowledged. It must exit
// 0 (in-flight transactions finish, new ones get 421), and after a
// restart every acknowledged message is in the spool or in the mailbox,
// byte for byte.
func TestOpsSIGTERMDuringLoadLosesNothing(t *testing.T) {
	t.Parallel()
	const clients, perClient, stopAfter = 6, 200, 30
	srv := opsServer(t, map[string]string{"bob@localhost": "pw"}, "")
	tlsc := srv.ClientTLS()
	load := submitLoad(t, srv, clients, perClient, stopAfter, func() (*smtp.Client, error) {
		return smtp.DialStartTLS(srv.Addr["submission"], tlsc) // port 587 with STARTTLS
	})
	if code := srv.Stop(); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0", code)
	}
	<-load.finished
	logs := srv.Logs()
	if !strings.Contains(logs, `msg="shutting down" signal=terminated`) || !strings.Contains(logs, "msg=stopped") {
		t.Errorf("no shutdown/stopped lines in the log")
	}
	if strings.Contains(logs, "level=ERROR") {
		t.Errorf("errors logged during the shutdown:\n%s", logs)
	}
	load.mu.Lock()
	defer load.mu.Unlock()
	got := load.got
	t.Logf("%d messages acknowledged before the server stopped", len(got))
	srv.Restart()
	for _, a := range got {
		raw, where := findMessage(t, srv, a.id)
		if body := bodyAfterReceived(t, raw); !bytes.Equal(body, a.body) {
			t.Errorf("message %s (%s): stored body differs from the one sent", a.id, where)
		}
	}
	if left := tempFiles(t, srv.SpoolDir()); len(left) != 0 {
		t.Errorf("temp files in the spool after a clean shutdown: %v", left)
	}
}

// smtpConn is a raw SMTP client, to see exact replies.
type smtpConn struct {
	t *testing.T
	c *textproto.Conn
}

func dialSMTP(t *testing.T, addr string) *smtpConn {
	t.Helper()
	c, err := textproto.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	s := &smtpConn{t: t, c: c}
	s.expect("", 220)
	s.expect("EHLO client.example", 250)
	return s
}

// expect sends cmd (none if empty) and wants a reply with code; it
// returns the reply's text.
func (s *smtpConn) expect(cmd string, code int) string {
	s.t.Helper()
	if cmd != "" {
		if err := s.c.PrintfLine("%s", cmd); err != nil {
			s.t.Fatal(err)
		}
	}
	got, msg, err := s.c.ReadResponse(0)
	if got != code {
		s.t.Fatalf("%q: got %d %s (%v), want %d", cmd, got, msg, err, code)
	}
	return msg
}

// TestOpsSIGHUPReloadKeepsConnections: a new config with max_recipients
// 1 and a changed listener address is applied on SIGHUP. A connection
// opened before keeps its limits and is not dropped; a new connection
// gets the new limit; the address change is logged as needing a restart;
// the reload is counted.
func TestOpsSIGHUPReloadKeepsConnections(t *testing.T) {
	t.Parallel()
	srv := opsServer(t, map[string]string{"bob@localhost": "pw", "carol@localhost": "pw"}, "")
	old := dialSMTP(t, srv.Addr["smtp"])
	writeOpsConfig(t, srv, "limits:\n  max_recipients: 1\nlog:\n  level: debug\n")
	cfg, _ := os.ReadFile(srv.ConfigPath)
	cfg = bytes.Replace(cfg, []byte("address: "+srv.Addr["pop3"]), []byte("address: 127.0.0.1:1"), 1)
	os.WriteFile(srv.ConfigPath, cfg, 0o600)
	signalServer(t, srv, syscall.SIGHUP)
	srv.WaitLog(`msg="reload: config applied"`)
	if line := srv.WaitLog(`msg="reload: change needs a restart`); !strings.Contains(line, "key=\"listeners") {
		t.Errorf("restart line %q does not name the listeners", line)
	}

	// The old connection: two recipients still fine, and the message goes in.
	old.expect("MAIL FROM:<x@remote.example>", 250)
	old.expect("RCPT TO:<bob@localhost>", 250)
	old.expect("RCPT TO:<carol@localhost>", 250)
	old.expect("DATA", 354)
	old.expect("Subject: kept\r\n\r\nhi\r\n.", 250)
	old.expect("QUIT", 221)

	fresh := dialSMTP(t, srv.Addr["smtp"])
	fresh.expect("MAIL FROM:<x@remote.example>", 250)
	fresh.expect("RCPT TO:<bob@localhost>", 250)
	fresh.expect("RCPT TO:<carol@localhost>", 452)

	s := scrapeMetrics(t, srv)
	if v, _ := s.value("mailgate_config_reloads_total", "result", "success"); v != 1 {
		t.Errorf("reloads success = %v, want 1", v)
	}
	// log.level debug applies at once: session starts are debug lines.
	srv.WaitLog(`level=DEBUG msg="session start"`)
}

// TestOpsSIGHUPBrokenConfigKeepsServing: a config with two mistakes is
// refused; both are logged with file:line, the old config keeps serving
// and the failure shows in the metrics.
func TestOpsSIGHUPBrokenConfigKeepsServing(t *testing.T) {
	t.Parallel()
	srv := opsServer(t, map[string]string{"bob@localhost": "pw"}, "")
	writeOpsConfig(t, srv, "limits:\n  max_recipients: -3\nlog:\n  format: xml\n")
	signalServer(t, srv, syscall.SIGHUP)
	srv.WaitLog(`msg="reload refused; the running config stays in use"`)
	logs := srv.Logs()
	for _, want := range []string{
		`msg="reload: config error" problem="` + srv.ConfigPath + `:20: limits.max_recipients: -3 is not allowed; write a number of 1 or more"`,
		`msg="reload: config error" problem="` + srv.ConfigPath + `:22: log.format: \"xml\" is not a log format; write text or json"`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %s", want)
		}
	}
	c := dialSMTP(t, srv.Addr["smtp"])
	c.expect("MAIL FROM:<x@remote.example>", 250)
	c.expect("RCPT TO:<bob@localhost>", 250)
	c.expect("DATA", 354)
	c.expect("Subject: still here\r\n\r\nhi\r\n.", 250)
	s := scrapeMetrics(t, srv)
	if v, _ := s.value("mailgate_config_reloads_total", "result", "failure"); v != 1 {
		t.Errorf("reloads failure = %v, want 1", v)
	}
	if v, _ := s.value("mailgate_config_last_reload_successful"); v != 0 {
		t.Errorf("last_reload_successful = %v, want 0", v)
	}
}
