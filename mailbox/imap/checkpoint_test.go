package imap

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestChecksSeeTheSameMessages: sessions that CHECK a mailbox at the
// same moment all report the same number of messages while another
// session, which never selected it, keeps appending (pipelined, with
// LITERAL+), as imaptest's checkpoints require (checkpoint.go). Each
// round also checks that nothing is lost: after the appender's last OK,
// a NOOP shows every message.
func TestChecksSeeTheSameMessages(t *testing.T) {
	t.Parallel()
	env := startServer(t, nil)
	appender := loginRaw(t, env)
	var readers []*rawConn
	for range 5 {
		r := loginRaw(t, env)
		r.has("s SELECT INBOX\r\n", "s OK [READ-WRITE] SELECT completed")
		readers = append(readers, r)
	}
	msg := "Subject: checkpoint\r\n\r\nbody\r\n"
	appended := 0
	seen := make([]int, len(readers)) // each reader's count so far
	for round := range 8 {
		// Four APPENDs on the wire at once, then the CHECK burst.
		var b strings.Builder
		for i := range 4 {
			fmt.Fprintf(&b, "a%d.%d APPEND INBOX {%d+}\r\n%s\r\n", round, i, len(msg), msg)
		}
		appender.send(b.String())
		time.Sleep(time.Duration(round) * time.Millisecond) // the burst lands at varied points of the APPENDs
		// Microseconds apart, as imaptest sends them.
		for _, r := range readers {
			r.send(fmt.Sprintf("c%d CHECK\r\n", round))
		}
		counts := make([]int, len(readers))
		for i, r := range readers {
			counts[i] = lastExists(r.until(fmt.Sprintf("c%d ", round)), seen[i])
		}
		for i := range 4 {
			if got := appender.until(fmt.Sprintf("a%d.%d ", round, i)); !strings.Contains(got[len(got)-1], " OK ") {
				t.Fatalf("APPEND: %q", got)
			}
		}
		appended += 4
		copy(seen, counts) // a CHECK with nothing new answers no EXISTS
		if slices.Min(counts) != slices.Max(counts) {
			t.Errorf("round %d: the CHECKs sent together reported %v messages", round, counts)
		}
		for i, r := range readers {
			r.send(fmt.Sprintf("n%d NOOP\r\n", round))
			n := lastExists(r.until(fmt.Sprintf("n%d ", round)), seen[i])
			seen[i] = n
			if n != appended {
				t.Errorf("round %d: after every APPEND's OK, a NOOP shows %d of %d messages", round, n, appended)
			}
		}
	}
}

// lastExists is the last "* N EXISTS" in lines, or def.
func lastExists(lines []string, def int) int {
	n := def
	for _, l := range lines {
		var k int
		if _, err := fmt.Sscanf(l, "* %d EXISTS", &k); err == nil {
			n = k
		}
	}
	return n
}

// TestCheckpointsWaitsAreBounded: a commit waits while a CHECK of the
// same mailbox is under way and for linger after it, not for other
// mailboxes; a CHECK waits for a commit under way; and a CHECK that never
// ends (a stuck session) keeps a commit out for maxHold at most.
func TestCheckpointsWaitsAreBounded(t *testing.T) {
	t.Parallel()
	var p checkpoints
	p.commit("u", "Sent")() // no CHECK: at once
	end := p.check("u", "INBOX")
	other := p.commit("u", "Sent") // another mailbox: at once
	other()
	committed := make(chan time.Time)
	go func() { done := p.commit("u", "inbox"); committed <- time.Now(); done() }()
	select {
	case <-committed:
		t.Fatal("an APPEND committed while a CHECK of its mailbox was under way")
	case <-time.After(50 * time.Millisecond):
	}
	ended := time.Now()
	end()
	end() // a second call does nothing
	if at := <-committed; at.Sub(ended) < linger {
		t.Errorf("the APPEND committed %v after the CHECK left, before linger (%v)", at.Sub(ended), linger)
	}

	done := p.commit("u", "INBOX")
	checked := make(chan struct{})
	go func() { p.check("u", "INBOX")(); close(checked) }()
	select {
	case <-checked:
		t.Fatal("a CHECK went on while a commit was under way")
	case <-time.After(50 * time.Millisecond):
	}
	done()
	<-checked

	time.Sleep(linger)
	stuck := p.check("u", "INBOX")
	defer stuck()
	start := time.Now()
	p.commit("u", "INBOX")()
	if waited := time.Since(start); waited < maxHold || waited > maxHold+10*time.Second {
		t.Errorf("a commit behind a stuck CHECK waited %v, want about %v", waited, maxHold)
	}
}
