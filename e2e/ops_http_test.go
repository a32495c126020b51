package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"mailgate/internal/mgtest"
)

// TestOpsHealthAndReadiness: /healthz is 200; /readyz is 503 and says
// why while the spool disk has less free space than http.min_free_disk,
// and 200 once a reload lowers the threshold.
func TestOpsHealthAndReadiness(t *testing.T) {
	t.Parallel()
	srv := opsServer(t, nil, "http:\n  min_free_disk: 100000000GB\n")
	if code, body := httpGet(t, srv, "/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	code, body := httpGet(t, srv, "/readyz")
	re := regexp.MustCompile(`^not ready\nspool: only \d+ bytes free on the spool disk \(http.min_free_disk is 107374182400000000\)\n$`)
	if code != 503 || !re.MatchString(body) {
		t.Errorf("/readyz with a huge min_free_disk: %d %q", code, body)
	}
	writeOpsConfig(t, srv, "http:\n  min_free_disk: 1MB\n")
	signalServer(t, srv, syscall.SIGHUP)
	srv.WaitLog(`msg="reload: config applied"`)
	if code, body := httpGet(t, srv, "/readyz"); code != 200 || body != "ready\n" {
		t.Errorf("/readyz after the reload: %d %q", code, body)
	}
}

// TestOpsAutoconfig: Thunderbird's autoconfig file, at both paths a
// client asks, names the submission and POP3 listeners of the config.
func TestOpsAutoconfig(t *testing.T) {
	t.Parallel()
	srv := opsServer(t, nil, "")
	port := func(proto string) string { _, p, _ := net.SplitHostPort(srv.Addr[proto]); return p }
	want := fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<clientConfig version="1.1">
  <emailProvider id="localhost">
    <domain>localhost</domain>
    <displayName>localhost</displayName>
    <displayShortName>localhost</displayShortName>
    <incomingServer type="pop3">
      <hostname>localhost</hostname>
      <port>%s</port>
      <socketType>STARTTLS</socketType>
      <authentication>password-cleartext</authentication>
      <username>%%EMAILADDRESS%%</username>
    </incomingServer>
    <outgoingServer type="smtp">
      <hostname>localhost</hostname>
      <port>%s</port>
      <socketType>STARTTLS</socketType>
      <authentication>password-cleartext</authentication>
      <username>%%EMAILADDRESS%%</username>
    </outgoingServer>
  </emailProvider>
</clientConfig>
`, port("pop3"), port("submission"))
	for _, path := range []string{"/.well-known/autoconfig/mail/config-v1.1.xml", "/mail/config-v1.1.xml?emailaddress=bob%40localhost"} {
		if code, body := httpGet(t, srv, path); code != 200 || body != want {
			t.Errorf("GET %s: %d\n%s\nwant\n%s", path, code, body, want)
		}
	}
}

// TestOpsJSONLogs: with log.format json every line is one JSON object
// with time, level and msg; the mail events carry their fields, and the
// fail2ban filter's JSON pattern finds the AUTH failure's client.
func TestOpsJSONLogs(t *testing.T) {
	t.Parallel()
	srv := opsServer(t, map[string]string{"bob@localhost": "pw"}, "")
	if code := srv.Stop(); code != 0 {
		t.Fatalf("stop: exit %d", code)
	}
	writeOpsConfig(t, srv, "log:\n  format: json\nauth:\n  delay: 1ms\n")
	// mgtest waits for a text ready line, so this run is started here.
	cmd := exec.Command(mgtest.Binary(t), "serve", "-config", srv.ConfigPath)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := make(chan string, 1000)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var seen []map[string]any
	waitFor := func(msg string) map[string]any {
		t.Helper()
		timeout := time.After(mgtest.Timeout)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("mailgate exited before logging %q", msg)
				}
				var m map[string]any
				if err := json.Unmarshal([]byte(l), &m); err != nil {
					t.Fatalf("log line is not JSON: %q", l)
				}
				if m["time"] == nil || m["level"] == nil || m["msg"] == nil {
					t.Errorf("log line lacks time, level or msg: %q", l)
				}
				m["_raw"] = l
				seen = append(seen, m)
				if m["msg"] == msg {
					return m
				}
			case <-timeout:
				t.Fatalf("no %q line", msg)
			}
		}
	}
	waitFor("ready")
	c := dialSMTP(t, srv.Addr["smtp"])
	c.expect("MAIL FROM:<x@remote.example>", 250)
	c.expect("RCPT TO:<nobody@localhost>", 550)
	c.expect("RCPT TO:<bob@localhost>", 250)
	c.expect("DATA", 354)
	id := strings.TrimPrefix(c.expect("Subject: json\r\n\r\nhi\r\n.", 250), "2.0.0 OK: queued as ")
	c.expect("QUIT", 221) // an idle session would hold SIGTERM up to its deadline
	if rej := waitFor("rejected"); rej["stage"] != "rcpt" || rej["code"] != float64(550) || rej["listener"] != "mx" {
		t.Errorf("rejected line: %v", rej["_raw"])
	}
	if acc := waitFor("accepted"); acc["msgid"] != id || acc["rcpts"] != float64(1) {
		t.Errorf("accepted line for %s: %v", id, acc["_raw"])
	}
	failAuth(t, srv, "bob@localhost")
	line := waitFor("auth failure")["_raw"].(string)
	addr, ok := bannedAddr(failregexes(t), line)
	if !ok || addr != "127.0.0.1" {
		t.Errorf("fail2ban filter takes %q, %v from %s", addr, ok, line)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	waitFor("stopped")
	if err := cmd.Wait(); err != nil {
		t.Errorf("exit after SIGTERM: %v", err)
	}
}
