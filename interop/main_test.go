// Package interop proves that mailgate works with programs nobody here
// wrote: mail submitted with swaks, msmtp, curl and Python's smtplib is
// read back with Python's poplib and imaplib, curl, fetchmail and mbsync;
// Postfix relays into mailgate and receives from it; dkimpy verifies the
// DKIM signatures mailgate makes, after a hop through Postfix. Every test
// runs the real binary (internal/mgtest) on loopback. A missing program
// skips its test on a laptop and fails it in CI (internal/testenv).
package interop

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mailgate/internal/mgtest"
)

func TestMain(m *testing.M) { mgtest.Main(m) }

// toolTimeout bounds one run of an external program; a client that hangs
// fails its test instead of the whole run.
const toolTimeout = 60 * time.Second

// Account is the mailbox every interop test writes to and reads from.
const (
	user = "alice@localhost"
	pass = "correct horse battery"
)

// allProtocols are the listeners of a full server: SMTP in, both
// submission ports, and both reading protocols in both TLS modes.
var allProtocols = []string{"smtp", "submission", "submissions", "imap", "imaps", "pop3", "pop3s", "http"}

// startFull starts mailgate with every listener and the account user;
// opts may add DNS, Delivery and Config.
func startFull(t *testing.T, opts mgtest.Options) *mgtest.Server {
	t.Helper()
	opts.Protocols = allProtocols
	opts.Users = map[string]string{user: pass}
	return mgtest.Start(t, opts)
}

// run runs an external program with stdin in dir and returns its
// combined output; the test fails if the program fails.
func run(t *testing.T, dir, stdin, name string, args ...string) string {
	t.Helper()
	out, err := runErr(dir, stdin, nil, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	return out
}

// runErr is run without failing: for clients that are meant to fail.
func runErr(dir, stdin string, env []string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), toolTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(stdin)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// hostPort splits a listener address.
func hostPort(addr string) (string, string) {
	h, p, _ := strings.Cut(addr, ":")
	return h, p
}

// writeFile writes a file (0600: msmtp, fetchmail and mbsync refuse
// config files others can read) and returns its path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// testMessage is a message with a unique subject, CRLF line ends, a line
// that starts with a dot (dot-stuffing must be undone at every hop) and
// 8-bit-free text, so that every client passes it on unchanged.
func testMessage(tag string) string {
	return fmt.Sprintf("From: Alice <%[2]s>\r\nTo: %[2]s\r\nDate: Wed, 25 Nov 2026 12:00:00 +0000\r\nSubject: interop %[1]s\r\nMessage-ID: <%[1]s@interop.test>\r\n\r\n"+
		"Sent by %[1]s.\r\n.a line that starts with a dot\r\n..two dots\r\nlast line\r\n", tag, user)
}

// checkDelivered checks that got is msg with mailgate's trace headers on
// top: the message arrived intact.
func checkDelivered(t *testing.T, who string, got []byte, msg string) {
	t.Helper()
	got = bytes.ReplaceAll(got, []byte("\r\n"), []byte("\n"))
	want := strings.ReplaceAll(msg, "\r\n", "\n")
	if !bytes.HasSuffix(got, []byte(want)) {
		t.Errorf("%s: message does not end with the message sent:\n--- got\n%s\n--- want (suffix)\n%s", who, got, want)
		return
	}
	if !bytes.HasPrefix(got, []byte("Received: from ")) && !bytes.HasPrefix(got, []byte("Return-Path: ")) {
		t.Errorf("%s: message does not start with mailgate's trace header:\n%.300s", who, got)
	}
}

// waitLogCount waits until the server's log holds n lines containing
// substr. mgtest's WaitLog signals only the first such line, so this
// checks the log each time a short ticker fires, up to mgtest.Timeout.
func waitLogCount(t *testing.T, srv *mgtest.Server, substr string, n int) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(mgtest.Timeout)
	for strings.Count(srv.Logs(), substr) < n {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("%d log lines with %q after %v, want %d:\n%s", strings.Count(srv.Logs(), substr), substr, mgtest.Timeout, n, srv.Logs())
		}
	}
}

// waitListening waits until addr accepts a TCP connection (a program
// started in the background, such as Postfix, opens it a little later).
func waitListening(t *testing.T, addr string) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(mgtest.Timeout)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("nothing listens on %s after %v: %v", addr, mgtest.Timeout, err)
		}
	}
}

// setListenerFilters kills srv, gives one listener of its config the
// filter list, and starts it again (mgtest writes listeners without
// filters).
func setListenerFilters(t *testing.T, srv *mgtest.Server, listener string, filters ...string) {
	t.Helper()
	srv.Kill() // nothing is queued yet; a clean stop is tested in e2e
	cfg, err := os.ReadFile(srv.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	line := "    address: " + srv.Addr[listener] + "\n"
	if !bytes.Contains(cfg, []byte(line)) {
		t.Fatalf("config has no line %q:\n%s", line, cfg)
	}
	cfg = bytes.Replace(cfg, []byte(line), []byte(line+"    filters: ["+strings.Join(filters, ", ")+"]\n"), 1)
	if err := os.WriteFile(srv.ConfigPath, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	srv.Restart()
}
