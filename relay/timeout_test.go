package relay_test

import (
	"strings"
	"testing"
	"time"

	"mailgate/config"
)

// TestDataTimeout: a client that stops sending in the middle of DATA is
// cut off after limits.data_timeout (not command_timeout), told so, and
// the connection is closed, so that the rest of its message can never be
// read as commands.
func TestDataTimeout(t *testing.T) {
	t.Parallel()
	ts := startServer(t, func(c *config.Config) {
		c.Limits.CommandTimeout = config.Duration(time.Hour)
		c.Limits.DataTimeout = config.Duration(time.Second) // the smallest the config allows
	})
	for _, listener := range []string{"mx", "submissions"} {
		w := ts.session(listener, listener != "mx", listener != "mx")
		w.must("MAIL FROM:<alice@example.com>", "250")
		w.must(rcptBob, "250")
		w.must("DATA", "354")
		w.write("Subject: stalled\r\n\r\nthe rest never comes")
		if got := w.reply(); got != "421 4.4.2 Timeout waiting for message data; closing connection" {
			t.Fatalf("%s: after stalling in DATA: %q", listener, got)
		}
		// What the client sends late must not run as commands.
		w.conn.Write([]byte("\r\nRSET\r\nNOOP\r\n"))
		if got := w.reply(); got != closed {
			t.Errorf("%s: then %q, want the connection closed", listener, got)
		}
	}
	if files := ts.spoolFiles(); len(files) != 0 {
		t.Errorf("spool holds %v", files)
	}
	if strings.Contains(ts.logs.String(), "internal error") {
		t.Errorf("a client timeout was logged as an internal error")
	}
}

// TestDataTimeoutWholeMessage: data_timeout bounds the whole content, not
// each read: a client that sends a byte every 50 ms, in DATA or in one
// BDAT chunk after another, is cut off with 421 4.4.2 while still
// sending, and nothing is queued.
func TestDataTimeoutWholeMessage(t *testing.T) {
	t.Parallel()
	ts := startServer(t, func(c *config.Config) {
		c.Limits.CommandTimeout = config.Duration(time.Hour)
		c.Limits.DataTimeout = config.Duration(time.Second)
	})
	for _, bdat := range []bool{false, true} {
		w, _ := dial(t, ts.addr["mx"])
		w.must("EHLO client.example.net", "250")
		w.must("MAIL FROM:<alice@example.com>", "250")
		w.must(rcptBob, "250")
		piece := "x"
		if bdat {
			piece = "BDAT 1\r\nx"
		} else {
			w.must("DATA", "354")
		}
		stop := make(chan struct{})
		done := make(chan int)
		go func() {
			n := 0
			defer func() { done <- n }()
			for ; n < 600; n++ { // 30 s at most, far past data_timeout
				select {
				case <-stop:
					return
				case <-time.After(50 * time.Millisecond):
				}
				w.conn.SetWriteDeadline(time.Now().Add(replyTimeout))
				if _, err := w.conn.Write([]byte(piece)); err != nil {
					return
				}
			}
		}()
		got := w.reply()
		for bdat && strings.HasPrefix(got, "250 ") {
			got = w.reply()
		}
		close(stop)
		if n := <-done; n >= 600 {
			t.Errorf("bdat=%v: the client sent all it had before being cut off", bdat)
		}
		if !strings.HasPrefix(got, "421 4.4.2 ") {
			t.Errorf("bdat=%v: slow sender got %q, want 421 4.4.2", bdat, got)
		}
	}
	if files := ts.spoolFiles(); len(files) != 0 {
		t.Errorf("spool holds %v", files)
	}
}
