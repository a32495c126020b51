package relay_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"
)

// TestShutdownGraceful: a transaction in progress when Shutdown starts is
// finished and acknowledged; new connections are refused.
func TestShutdownGraceful(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil)
	w := ts.session("mx", false, false)
	w.must(mailFrom, "250")
	w.must(rcptBob, "250")
	done := make(chan error, 1)
	go func() { done <- ts.srv.Shutdown(context.Background()) }()
	w.must("DATA", "354")
	queuedID(t, w.cmd(message("during shutdown")+"."))
	// Whether Shutdown began before or during the DATA above, it waits
	// for the session to end and lets nobody new in.
	w.must("QUIT", "221")
	if err := <-done; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if c, err := net.Dial("tcp", ts.addr["mx"]); err == nil {
		c.Close()
		t.Error("a new connection was accepted after Shutdown")
	}
}

// TestShutdownClosesIdleSessions: a client idle between transactions is
// told 421 and hung up on at once, so it does not hold shutdown up.
func TestShutdownClosesIdleSessions(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil)
	w := ts.session("submissions", true, false)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := ts.srv.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown = %v, want nil: the idle session should not be waited for", err)
	}
	if got := w.reply(); got != "421 4.3.2 Server is shutting down; try again later" {
		t.Errorf("idle client got %q, want the 421 shutdown reply", got)
	}
	if got := w.reply(); got != closed {
		t.Errorf("after the 421 the client got %q, want the connection closed", got)
	}
}

// TestShutdownDeadline: a client that stalls inside a transaction does
// not hold shutdown past its context: the connection is closed then.
func TestShutdownDeadline(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil)
	w := ts.session("mx", false, false)
	w.must(mailFrom, "250")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := ts.srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown = %v, want the context's deadline", err)
	}
	if got := w.reply(); got != closed {
		t.Errorf("stalled client got %q, want the connection closed", got)
	}
}
