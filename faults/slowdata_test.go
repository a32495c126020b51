package faults

import (
	"bufio"
	"crypto/tls"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"mailgate/internal/mgtest"
)

// TestSlowDataSender: a client inside DATA (or BDAT) that sends a byte
// every 50 ms never stalls long enough for a per-read timeout, so only a
// deadline for the whole message stops it. With limits.data_timeout at
// 1s it gets 421 4.4.2 and the connection closes while it is still
// sending, on the bulk reader (plain DATA), go-smtp's reader (DATA after
// STARTTLS) and through BDAT chunks; nothing is queued.
func TestSlowDataSender(t *testing.T) {
	t.Parallel()
	srv := mgtest.Start(t, mgtest.Options{
		Protocols: []string{"smtp"},
		Users:     map[string]string{user: pass},
		Config:    "limits:\n  command_timeout: 1h\n  data_timeout: 1s\n",
	})
	cases := []struct {
		name     string
		starttls bool
		bdat     bool
	}{{"data", false, false}, {"data over STARTTLS", true, false}, {"bdat", false, true}, {"bdat over STARTTLS", true, true}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			trickleDATA(t, srv, tc.starttls, tc.bdat)
		})
	}
	t.Cleanup(func() {
		ents, _ := os.ReadDir(srv.SpoolDir())
		for _, e := range ents {
			if strings.HasSuffix(e.Name(), ".msg") {
				t.Errorf("spool holds %s: a timed-out message was queued", e.Name())
			}
		}
		if strings.Contains(srv.Logs(), "internal error") || strings.Contains(srv.Logs(), "level=ERROR") {
			t.Errorf("a slow client was logged as a server error")
		}
	})
}

// trickleBudget bounds the trickle: 600 bytes at one per 50 ms is 30 s,
// far past the 1s data_timeout; a server that only times each read
// would let it run out and then time it out for the stall after it.
const trickleBudget = 600

func trickleDATA(t *testing.T, srv *mgtest.Server, starttls, bdat bool) {
	c, err := net.Dial("tcp", srv.Addr["smtp"])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(mgtest.Timeout))
	r := bufio.NewReader(c)
	cmd := func(line, want string) {
		t.Helper()
		if line != "" {
			if _, err := c.Write([]byte(line + "\r\n")); err != nil {
				t.Fatal(err)
			}
		}
		if got := readReply(t, r); !strings.HasPrefix(got, want) {
			t.Fatalf("%q: got %q, want %s", line, got, want)
		}
	}
	cmd("", "220")
	cmd("EHLO slow.test", "250")
	if starttls {
		cmd("STARTTLS", "220")
		tc := tls.Client(c, srv.ClientTLS())
		c, r = tc, bufio.NewReader(tc)
		c.SetDeadline(time.Now().Add(mgtest.Timeout))
		cmd("EHLO slow.test", "250")
	}
	cmd("MAIL FROM:<someone@remote.test>", "250")
	cmd("RCPT TO:<"+user+">", "250")
	if !bdat {
		cmd("DATA", "354")
	}
	var sent atomic.Int64
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		for i := 0; i < trickleBudget; i++ {
			b := []byte("x")
			if bdat {
				b = []byte("BDAT 1\r\nx")
			}
			if _, err := c.Write(b); err != nil {
				return
			}
			sent.Add(1)
			time.Sleep(50 * time.Millisecond) // the attack is the pace
		}
	}()
	var last string
	for {
		line := readReply(t, r)
		if line == "" || !strings.HasPrefix(line, "250") { // BDAT chunks get 250 each
			last = line
			break
		}
	}
	if !strings.HasPrefix(last, "421 4.4.2 ") {
		t.Errorf("slow sender got %q, want 421 4.4.2", last)
	}
	if n := sent.Load(); n >= trickleBudget {
		t.Errorf("the server let the client send all %d bytes before cutting it off", n)
	}
	if got := readReply(t, r); got != "" {
		t.Errorf("after the 421 the server said %q, want the connection closed", got)
	}
	c.Close()
	<-stopped
}

// readReply reads one (possibly multi-line) reply and returns its last
// line, or "" once the connection is closed.
func readReply(t *testing.T, r *bufio.Reader) string {
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return ""
		}
		line = strings.TrimRight(line, "\r\n")
		if len(line) < 4 || line[3] != '-' {
			return line
		}
	}
}
