package queue

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"mailgate/internal/mailmsg"
)

// probe is a Deliverer that looks at the message's .state file while the
// attempt runs, the moment a crash would freeze it, and accepts.
type probe struct {
	dir  string
	seen chan []byte // the .state file's content, nil when it did not exist
}

func (p *probe) Deliver(ctx context.Context, req *mailmsg.Attempt) []mailmsg.Result {
	b, err := os.ReadFile(filepath.Join(p.dir, req.ID+stateSuffix))
	if err != nil {
		b = nil
	}
	p.seen <- b
	return make([]mailmsg.Result, len(req.Recipients))
}

func openProbed(t *testing.T, dir string, d Deliverer) *Queue {
	t.Helper()
	q, err := Open(Options{Dir: dir, Deliverer: d, Hostname: "mailgate.test", FirstRetry: time.Hour,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	q.settled = make(chan string, 10)
	q.Start()
	return q
}

func enqueueOne(t *testing.T, q *Queue) string {
	t.Helper()
	env := &mailmsg.Envelope{ID: mailmsg.NewID(time.Now()), From: "a@origin.test", Received: time.Now(),
		Recipients: []mailmsg.Recipient{{Addr: "b@remote.test"}}}
	if err := q.Enqueue(context.Background(), env, []byte("Subject: x\r\n\r\nHello.\r\n")); err != nil {
		t.Fatal(err)
	}
	return env.ID
}

func waitSeen(t *testing.T, p *probe) []byte {
	t.Helper()
	select {
	case b := <-p.seen:
		return b
	case <-time.After(30 * time.Second):
		t.Fatal("no delivery attempt within 30s")
		return nil
	}
}

// A message accepted by this process goes out on its first attempt
// without a .state file: the spool file already says "try at once".
// Once delivered, nothing of it is left in the spool.
func TestFreshMessageFirstAttemptWritesNoState(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := &probe{dir: dir, seen: make(chan []byte, 1)}
	q := openProbed(t, dir, p)
	id := enqueueOne(t, q)
	if b := waitSeen(t, p); b != nil {
		t.Errorf("first attempt of a fresh message found a state record: %s", b)
	}
	<-q.settled
	left := q.countByState()
	if len(left) != 0 {
		t.Errorf("index still holds %v after delivery", left)
	}
	q.Close()
	for _, suf := range []string{msgSuffix, stateSuffix} {
		if _, err := os.Stat(filepath.Join(dir, id+suf)); !os.IsNotExist(err) {
			t.Errorf("%s%s still in the spool after delivery (err=%v)", id, suf, err)
		}
	}
}

// After a restart the attempt is recorded before it runs, with the retry
// time a crash during it would leave, so a message that crashes the
// server is retried after FirstRetry, not in a loop.
func TestRecoveredMessageRecordsAttemptFirst(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	stored := openProbed(t, dir, nil) // no Deliverer: the queue only stores
	id := enqueueOne(t, stored)
	stored.Close()

	p := &probe{dir: dir, seen: make(chan []byte, 1)}
	start := time.Now()
	q := openProbed(t, dir, p)
	defer q.Close()
	b := waitSeen(t, p)
	if b == nil {
		t.Fatal("the attempt of a recovered message ran before its state was recorded")
	}
	var st msgState
	if err := json.Unmarshal(decodeState(id, b), &st); err != nil {
		t.Fatalf("state record: %v: %s", err, b)
	}
	r := st.Recipients[0]
	if r.Attempts != 1 || r.NextAttempt.Before(start.Add(50*time.Minute)) {
		t.Errorf("recorded attempts=%d next=%s; want 1 and about an hour after %s", r.Attempts, r.NextAttempt, start)
	}
}
