package interop

import (
	"bufio"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestNoopSeesCommittedAppends: a NOOP or CHECK reports every message
// committed before the command began (RFC 9051 §6.1.2, §6.4.1), also
// when the APPEND came from a session that never selected the mailbox.
// One session appends without selecting, first one message at a time
// and then in a tight loop; each time it has read an APPEND's OK, every
// selected session's next NOOP (and CHECK) must count that message.
// imaptest's checkpoints (TestImaptestCheckpoints) rely on this.
func TestNoopSeesCommittedAppends(t *testing.T) {
	srv := startForImaptest(t)
	addr := srv.Addr["imap"]
	readers := make([]*countingReader, 3)
	for i := range readers {
		readers[i] = &countingReader{imapLine: dialIMAP(t, addr)}
		readers[i].send("s SELECT INBOX")
		readers[i].read("s ")
	}
	appender := dialIMAP(t, addr)
	for i := 1; i <= 3; i++ { // one by one: each reader must see each
		appender.send(fmt.Sprintf("p%d APPEND INBOX {%d+}\r\n%s", i, len(noopMessage), noopMessage))
		if l := appender.until(fmt.Sprintf("p%d ", i)); !strings.HasPrefix(l[len(l)-1], fmt.Sprintf("p%d OK", i)) {
			t.Fatalf("APPEND: %q", l)
		}
		for j, r := range readers {
			cmd := []string{"NOOP", "CHECK"}[j%2]
			if n := r.poll(cmd); n != i {
				t.Fatalf("reader %d: %s after the APPEND of message %d reported %d messages", j, cmd, i, n)
			}
		}
	}
	// Racing: appends go on while the readers poll; a reader may see
	// more than was committed when it began, never less.
	var committed atomic.Int64
	committed.Store(3)
	done := make(chan error, 1)
	stop := make(chan struct{})
	go func() { done <- appendLoop(addr, &committed, stop) }()
	for round := 0; round < 150; round++ {
		for j, r := range readers {
			before := committed.Load()
			if n := r.poll("NOOP"); int64(n) < before {
				close(stop)
				t.Fatalf("round %d, reader %d: NOOP reported %d messages, but %d were committed before it was sent", round, j, n, before)
			}
		}
	}
	close(stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for j, r := range readers {
		if n := r.poll("CHECK"); int64(n) != committed.Load() {
			t.Errorf("reader %d: CHECK after the appends stopped reported %d messages, want %d", j, n, committed.Load())
		}
	}
	t.Logf("%d messages appended while 3 sessions polled", committed.Load())
}

const noopMessage = "From: a@example.org\r\nSubject: appended\r\n\r\nbody\r\n"

// countingReader is a selected session that keeps the message count
// its EXISTS responses told.
type countingReader struct {
	*imapLine
	exists int
	n      int
}

// read reads up to the tagged reply, taking note of EXISTS and EXPUNGE.
func (r *countingReader) read(tag string) {
	r.t.Helper()
	for _, l := range r.until(tag) {
		f := strings.Fields(l)
		if len(f) == 3 && f[0] == "*" && f[2] == "EXISTS" {
			r.exists, _ = strconv.Atoi(f[1])
		}
	}
}

// poll sends NOOP or CHECK and returns the message count it left.
func (r *countingReader) poll(cmd string) int {
	r.t.Helper()
	r.n++
	tag := fmt.Sprintf("n%d", r.n)
	r.send(tag + " " + cmd)
	r.read(tag + " ")
	return r.exists
}

// appendLoop appends from a session that selects nothing until stop is
// closed, counting each message once its OK has been read.
func appendLoop(addr string, committed *atomic.Int64, stop <-chan struct{}) error {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Minute))
	br := bufio.NewReader(c)
	fmt.Fprintf(c, "a LOGIN %s \"%s\"\r\n", imaptestUser, imaptestPass)
	if err := awaitTag(br, "a "); err != nil {
		return err
	}
	for i := 0; ; i++ {
		select {
		case <-stop:
			return nil
		default:
		}
		tag := fmt.Sprintf("q%d ", i)
		fmt.Fprintf(c, "%sAPPEND INBOX {%d+}\r\n%s\r\n", tag, len(noopMessage), noopMessage)
		if err := awaitTag(br, tag); err != nil {
			return err
		}
		committed.Add(1)
	}
}

// awaitTag reads lines up to the tagged reply and wants it OK.
func awaitTag(br *bufio.Reader, tag string) error {
	for range 1000 {
		l, err := br.ReadString('\n')
		if err != nil {
			return fmt.Errorf("waiting for %q: %v", tag, err)
		}
		if strings.HasPrefix(l, tag) {
			if !strings.HasPrefix(l, tag+"OK") {
				return fmt.Errorf("%s", strings.TrimSpace(l))
			}
			return nil
		}
	}
	return fmt.Errorf("no reply tagged %q", tag)
}
