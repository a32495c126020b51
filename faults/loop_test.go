package faults

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mailgate/internal/dnstest"
	"mailgate/internal/mgtest"
	"mailgate/internal/testenv"
)

// hopMessage is a message that has passed n servers already.
func hopMessage(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "Received: from hop%d.test by hop%d.test; Thu, 3 Dec 2026 12:00:00 +0000\r\n", i, i+1)
	}
	b.WriteString("From: friend@outside.test\r\nTo: app@localhost\r\nSubject: hops\r\n\r\nhello\r\n")
	return b.String()
}

// TestMailLoopRefusedAtData: a message that arrives with 50 Received
// fields (51 with ours, over limits.max_received_headers' default of 50)
// gets 554 5.4.6 at DATA, as swaks shows; one with 49 is accepted.
func TestMailLoopRefusedAtData(t *testing.T) {
	t.Parallel()
	swaks := testenv.Tool(t, "swaks")
	srv := mgtest.Start(t, mgtest.Options{Protocols: []string{"smtp"}, Users: map[string]string{user: pass}})
	h, p, _ := strings.Cut(srv.Addr["smtp"], ":")
	send := func(n int) string {
		file := filepath.Join(t.TempDir(), "msg")
		os.WriteFile(file, []byte(hopMessage(n)), 0o600)
		out, _ := runTool(swaks, "--server", h, "--port", p, "--from", "friend@outside.test", "--to", user, "--data", file, "--timeout", "60")
		return out
	}
	const want = "<** 554 5.4.6 Routing loop detected: the message already carries 50 Received fields and 50 is the limit; check the forwarding between the servers it passed"
	if out := send(50); !strings.Contains(out, want) {
		t.Errorf("50 Received fields: swaks did not see\n%s\n%s", want, out)
	}
	if out := send(49); !strings.Contains(out, " 250 2.0.0 OK: queued as ") {
		t.Errorf("49 Received fields refused:\n%s", out)
	}
	srv.WaitLog("msg=delivered ")
}

// TestMailLoopBetweenForwards: two mailgates forward one address to each
// other (a.test -> b.test -> a.test). Each pass adds a Received field,
// so after max_received_headers hops the receiving side refuses the
// message at DATA with 554 5.4.6, the sending side bounces it, and the
// loop ends instead of going round for ever.
func TestMailLoopBetweenForwards(t *testing.T) {
	t.Parallel()
	dns := dnstest.Start(t, "a.test. 300 IN MX 10 mx.a.test.", "b.test. 300 IN MX 10 mx.b.test.",
		"mx.a.test. 300 IN A 127.0.0.1", "mx.b.test. 300 IN A 127.0.0.1")
	start := func(domain string) *mgtest.Server {
		return mgtest.Start(t, mgtest.Options{LocalDomain: domain, Protocols: []string{"smtp"}, DNS: dns.Addr,
			Delivery: "  port: 1\n", Config: fastRetry + "limits:\n  max_received_headers: 10\n"})
	}
	a, b := start("a.test"), start("b.test")
	loopTo(t, a, "loop@a.test", "loop@b.test", b.Addr["smtp"])
	loopTo(t, b, "loop@b.test", "loop@a.test", a.Addr["smtp"])

	swaks := testenv.Tool(t, "swaks")
	h, p, _ := strings.Cut(a.Addr["smtp"], ":")
	if out, err := runTool(swaks, "--server", h, "--port", p, "--from", "<>", "--to", "loop@a.test", "--timeout", "60"); err != nil {
		t.Fatalf("first submission refused: %v\n%s", err, out)
	}
	// Ten hops in all: a accepts with 1 Received field, b with 2, ...;
	// the one that would make 11 is refused, and its sender bounces it
	// (to <>, so no report is sent: the loop ends there).
	line := waitEitherLog(t, "msg=bounced", a, b)
	if !strings.Contains(line, "554 5.4.6 Routing loop detected") {
		t.Errorf("the loop did not end with 554 5.4.6: %s", line)
	}
	accepted := strings.Count(a.Logs(), "msg=accepted") + strings.Count(b.Logs(), "msg=accepted")
	if accepted != 10 {
		t.Errorf("%d acceptances in the loop, want 10 (max_received_headers)", accepted)
	}
}

// waitEitherLog waits for a log line with substr from any of srvs.
func waitEitherLog(t *testing.T, substr string, srvs ...*mgtest.Server) string {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(mgtest.Timeout)
	for {
		for _, s := range srvs {
			for _, l := range strings.Split(s.Logs(), "\n") {
				if strings.Contains(l, substr) {
					return l
				}
			}
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("no log line with %q after %v", substr, mgtest.Timeout)
		}
	}
}

// runTool runs a client program and returns its combined output.
func runTool(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), mgtest.Timeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err
}

// loopTo makes srv forward from to to, with remote mail going to the
// MX address mx: it stops srv, edits accounts.yaml and the delivery
// port, and starts it again.
func loopTo(t *testing.T, srv *mgtest.Server, from, to, mx string) {
	t.Helper()
	srv.Kill()
	acc := fmt.Sprintf("accounts: []\nforwards:\n  %s: [%s]\n", from, to)
	if err := os.WriteFile(filepath.Join(srv.DataDir, "accounts.yaml"), []byte(acc), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := os.ReadFile(srv.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := strings.Cut(mx, ":")
	cfg = []byte(strings.Replace(string(cfg), "  port: 1\n", "  port: "+port+"\n", 1))
	if err := os.WriteFile(srv.ConfigPath, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	srv.Restart()
}
