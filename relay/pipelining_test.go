package relay_test

import (
	"strings"
	"testing"
)

// TestDataWithoutWaiting: a client that sends its message right after
// DATA, before the 354 (no PIPELINING allows it, but clients do), and its
// next commands after the end: the protocol layer must take every byte
// in order, the content for the session and then the commands.
func TestDataWithoutWaiting(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil)
	w := ts.session("mx", false, false)
	w.write(mailFrom + "\r\n" + rcptBob + "\r\nDATA\r\nSubject: eager\r\n\r\n..dot\r\nbody\r\n.\r\nNOOP\r\nQUIT\r\n")
	for _, want := range []string{"250", "250", "354"} {
		if got := w.reply(); !strings.HasPrefix(got, want+" ") {
			t.Fatalf("got %q, want %s", got, want)
		}
	}
	id := queuedID(t, w.reply())
	_, raw := ts.spooled(id)
	if want := "Subject: eager\r\n\r\n.dot\r\nbody\r\n"; !strings.HasSuffix(string(raw), want) {
		t.Errorf("spooled %q, want it to end with %q", raw, want)
	}
	if got := w.reply(); !strings.HasPrefix(got, "250 ") {
		t.Errorf("NOOP after the message: %q", got)
	}
	if got := w.reply(); !strings.HasPrefix(got, "221 ") {
		t.Errorf("QUIT after the message: %q", got)
	}
}

// TestDataAfterRefusedData: after a DATA refused by the protocol layer
// (no recipients) the next command must still be read as a command,
// and a later DATA is read by the session.
func TestDataAfterRefusedData(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil)
	w := ts.session("mx", false, false)
	w.must("DATA", "502")
	w.must(mailFrom, "250")
	w.must(rcptBob, "250")
	w.must("DATA", "354")
	id := queuedID(t, w.cmd(message("after a refused DATA")+"."))
	if _, raw := ts.spooled(id); !strings.Contains(string(raw), "Subject: after a refused DATA\r\n") {
		t.Errorf("spooled %q", raw)
	}
	w.must("QUIT", "221")
}

// TestTooLargeThenNextMessage: after 552 for a message over the size
// limit, read by the session, the connection goes on.
func TestTooLargeThenNextMessage(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil)
	w := ts.session("mx", false, false)
	w.must(mailFrom, "250")
	w.must(rcptBob, "250")
	w.must("DATA", "354")
	big := strings.Repeat("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\r\n", 200)
	if got := w.cmd(big + "."); got != "552 5.3.4 Maximum message size exceeded" {
		t.Fatalf("too large: %q", got)
	}
	w.must(mailFrom, "250")
	w.must(rcptBob, "250")
	w.must("DATA", "354")
	queuedID(t, w.cmd(message("small")+"."))
}
