package imap

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// TestCheckWaitsForAppendsUnderWay: a CHECK reports an APPEND that
// another session (one that never selected the mailbox) had begun when
// the CHECK arrived and committed after it, as imaptest's checkpoints
// need (appendwait.go); a NOOP does not wait. A stalled APPEND holds a
// CHECK at most maxCheckWait, which appendsInFlight.wait's own test
// below covers without waiting that long.
func TestCheckWaitsForAppendsUnderWay(t *testing.T) {
	t.Parallel()
	env := startServer(t, nil)
	appender, reader := loginRaw(t, env), loginRaw(t, env)
	reader.has("s SELECT INBOX\r\n", "s OK [READ-WRITE] SELECT completed")
	msg := "Subject: late\r\n\r\nbody\r\n"
	appender.send("p APPEND INBOX {" + utoa(uint32(len(msg))) + "}\r\n")
	if l := appender.line(); !strings.HasPrefix(l, "+") {
		t.Fatalf("APPEND: %q", l)
	}
	reader.has("n NOOP\r\n", "n OK NOOP completed") // does not wait
	reader.send("c CHECK\r\n")
	time.Sleep(200 * time.Millisecond) // the CHECK is waiting now (or not yet read: same outcome)
	appender.send(msg + "\r\n")
	if got := appender.until("p "); !strings.HasPrefix(got[len(got)-1], "p OK") {
		t.Fatalf("APPEND: %q", got)
	}
	if got := reader.until("c "); !slices.Contains(got, "* 1 EXISTS") {
		t.Errorf("CHECK did not report the APPEND under way when it began:\n%s", strings.Join(got, "\n"))
	}
}

// TestAppendsInFlightWait: wait returns when the APPENDs it found end,
// ignores those begun after it and other mailboxes, and gives up after
// its limit.
func TestAppendsInFlightWait(t *testing.T) {
	t.Parallel()
	var a appendsInFlight
	a.wait("u", "INBOX", time.Minute) // none: returns at once
	end := a.begin("u", "INBOX")
	other := a.begin("u", "Sent")
	defer other()
	done := make(chan struct{})
	go func() { a.wait("u", "inbox", time.Minute); close(done) }()
	select {
	case <-done:
		t.Fatal("wait returned while an APPEND to INBOX was under way")
	case <-time.After(50 * time.Millisecond):
	}
	end()
	end() // a second call does nothing
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("wait did not return after the APPEND ended")
	}
	stalled := a.begin("u", "INBOX")
	defer stalled()
	start := time.Now()
	a.wait("u", "INBOX", 20*time.Millisecond)
	if time.Since(start) > 20*time.Second {
		t.Error("wait outlived its limit")
	}
}
