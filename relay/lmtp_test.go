package relay_test

import (
	"strings"
	"testing"

	"mailgate/config"
)

// TestLMTPAliasAndDuplicate: an alias and its target given as two
// recipients are queued once and answered twice (RFC 2033: one reply
// per accepted RCPT), twice on one connection.
func TestLMTPAliasAndDuplicate(t *testing.T) {
	t.Parallel()
	ts := startServer(t, func(c *config.Config) {
		c.Listeners = append(c.Listeners, config.Listener{Name: "lmtp", Protocol: config.ProtoLMTP, Address: "127.0.0.1:0"})
	})
	w, greeting := dial(t, ts.addr["lmtp"])
	if !strings.Contains(greeting, "LMTP") {
		t.Fatalf("greeting %q", greeting)
	}
	w.must("LHLO mta.example.org", "250")
	for round := 0; round < 2; round++ {
		w.must("MAIL FROM:<x@example.org>", "250")
		w.must("RCPT TO:<"+bobAlias+">", "250")
		w.must("RCPT TO:<"+bob+">", "250")
		w.must("DATA", "354")
		w.write(message("lmtp alias") + ".\r\n")
		first, second := w.reply(), w.reply()
		if !strings.HasPrefix(first, "250 2.0.0 <"+bobAlias+"> OK: queued as ") || !strings.HasPrefix(second, "250 2.0.0 <"+bob+"> OK: queued as ") {
			t.Fatalf("replies %q, %q", first, second)
		}
		id := first[strings.LastIndexByte(first, ' ')+1:]
		env, raw := ts.spooled(id)
		if len(env.Recipients) != 1 || env.Recipients[0].Addr != bob || !strings.Contains(string(raw), "with LMTP id "+id) {
			t.Errorf("spooled %+v\n%.300s", env.Recipients, raw)
		}
	}
}
