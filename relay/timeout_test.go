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
