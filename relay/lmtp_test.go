package relay_test

import (
	"fmt"
	"strings"
	"testing"

	"mailgate/config"
)

// withLMTP adds an lmtp listener to the test server's config.
func withLMTP(c *config.Config) {
	c.Listeners = append(c.Listeners, config.Listener{Name: "lmtp", Protocol: config.ProtoLMTP, Address: "127.0.0.1:0"})
}

// fakeQuotas is mailbox usage by target address: {used, limit}.
type fakeQuotas map[string][2]int64

func (q fakeQuotas) Usage(target string) (used, limit int64, ok bool) {
	u, ok := q[target]
	return u[0], u[1], ok
}

// lmtpSession greets the lmtp listener with LHLO and starts a
// transaction for rcpts, each of which must be accepted.
func lmtpSession(t *testing.T, ts *testServer, rcpts ...string) *wire {
	t.Helper()
	w, greeting := dial(t, ts.addr["lmtp"])
	if want := "220 " + hostname + " LMTP Service Ready"; greeting != want {
		t.Fatalf("greeting %q, want %q", greeting, want)
	}
	w.must("LHLO mta.example.org", "250")
	w.must("MAIL FROM:<x@example.org>", "250")
	for _, r := range rcpts {
		w.must("RCPT TO:<"+r+">", "250")
	}
	return w
}

// TestLMTPAliasAndDuplicate: an alias and its target given as two
// recipients are queued once and answered twice (RFC 2033: one reply
// per accepted RCPT), twice on one connection.
func TestLMTPAliasAndDuplicate(t *testing.T) {
	t.Parallel()
	ts := startServer(t, withLMTP)
	w := lmtpSession(t, ts, bobAlias, bob)
	for round := 0; round < 2; round++ {
		if round > 0 {
			w.must("MAIL FROM:<x@example.org>", "250")
			w.must("RCPT TO:<"+bobAlias+">", "250")
			w.must("RCPT TO:<"+bob+">", "250")
		}
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

// sendContent sends msg after the recipients were accepted, with DATA or
// with two BDAT chunks, and returns the replies to the end of it, n of
// them.
func sendContent(t *testing.T, w *wire, bdat bool, msg string, n int) []string {
	t.Helper()
	if bdat {
		half := len(msg) / 2
		w.write(fmt.Sprintf("BDAT %d\r\n%s", half, msg[:half]))
		if r := w.reply(); r != "250 2.0.0 Continue" {
			t.Fatalf("first chunk: %q", r)
		}
		w.write(fmt.Sprintf("BDAT %d LAST\r\n%s", len(msg)-half, msg[half:]))
	} else {
		w.must("DATA", "354")
		w.write(msg + ".\r\n")
	}
	var replies []string
	for i := 0; i < n; i++ {
		replies = append(replies, w.reply())
	}
	return replies
}

// TestLMTPMixedQuota: bob's mailbox has room for less than the message.
// After DATA, and after BDAT LAST, alice gets 250 and bob, given by his
// alias and by his address, gets 452 4.2.2 twice, in RCPT order; the
// message is queued for alice alone, and the connection goes on.
func TestLMTPMixedQuota(t *testing.T) {
	t.Parallel()
	ts := startServerQuotas(t, withLMTP, nil, "", fakeQuotas{bob: {990, 1000}})
	for _, bdat := range []bool{false, true} {
		w := lmtpSession(t, ts, alice, bobAlias, bob)
		got := sendContent(t, w, bdat, message("mixed quota"), 3)
		for i, want := range []string{
			"250 2.0.0 <" + alice + "> OK: queued as ",
			"452 4.2.2 <" + bobAlias + "> Mailbox of <" + bobAlias + "> is full; try again later",
			"452 4.2.2 <" + bob + "> Mailbox of <" + bob + "> is full; try again later",
		} {
			if !strings.HasPrefix(got[i], want) {
				t.Errorf("bdat=%v: reply %d = %q, want %q", bdat, i, got[i], want)
			}
		}
		id := got[0][strings.LastIndexByte(got[0], ' ')+1:]
		if env, _ := ts.spooled(id); len(env.Recipients) != 1 || env.Recipients[0].Addr != alice {
			t.Errorf("bdat=%v: queued for %+v, want alice alone", bdat, env.Recipients)
		}
		w.must("NOOP", "250")
	}
}

// TestLMTPWholeMessageRefused: a refusal of the message itself is every
// recipient's reply: too large for every mailbox (each named), over
// limits.max_message_size by DATA or by BDAT LAST, a bare LF; nothing
// is queued.
func TestLMTPWholeMessageRefused(t *testing.T) {
	t.Parallel()
	ts := startServerQuotas(t, withLMTP, nil, "", fakeQuotas{alice: {0, 50}, bob: {0, 50}})
	big := message("big") + strings.Repeat(strings.Repeat("b", 70)+"\r\n", 60)
	for _, tc := range []struct {
		name, msg string
		bdat      bool
		want      []string
	}{
		{"no room", message("no room"), false, []string{
			"552 5.2.2 <" + alice + "> Message too large for the mailbox of <" + alice + ">",
			"552 5.2.2 <" + bobAlias + "> Message too large for the mailbox of <" + bobAlias + ">"}},
		{"too big DATA", big, false, []string{"552 5.3.4 <" + alice + "> ", "552 5.3.4 <" + bobAlias + "> "}},
		{"too big BDAT LAST", big, true, []string{"552 5.3.4 <" + alice + "> ", "552 5.3.4 <" + bobAlias + "> "}},
		{"bare LF", "Subject: x\r\n\r\nbare\nline\r\n", false, []string{"550 5.5.2 <" + alice + "> ", "550 5.5.2 <" + bobAlias + "> "}},
	} {
		w := lmtpSession(t, ts, alice, bobAlias)
		got := sendContent(t, w, tc.bdat, tc.msg, 2)
		for i := range tc.want {
			if !strings.HasPrefix(got[i], tc.want[i]) {
				t.Errorf("%s: reply %d = %q, want %q...", tc.name, i, got[i], tc.want[i])
			}
		}
		w.must("NOOP", "250")
	}
	if files := ts.spoolFiles(); len(files) != 0 {
		t.Errorf("spool holds %v", files)
	}
}

// TestLMTPCommands: the greeting names LMTP; EHLO and HELO are told to
// use LHLO (and LHLO on SMTP is refused); LHLO offers neither STARTTLS
// nor AUTH although the server has a certificate, and both commands are
// refused; only existing local recipients are accepted.
func TestLMTPCommands(t *testing.T) {
	t.Parallel()
	ts := startServer(t, withLMTP)
	w, _ := dial(t, ts.addr["lmtp"])
	for _, hello := range []string{"EHLO", "HELO"} {
		if r := w.cmd(hello + " mta.example.org"); r != "500 5.5.1 This is a LMTP server, use LHLO" {
			t.Errorf("%s on LMTP: %q", hello, r)
		}
	}
	w.write("LHLO mta.example.org\r\n")
	if r := w.reply(); !strings.HasPrefix(r, "250-Hello mta.example.org") || strings.Contains(r, "STARTTLS") || strings.Contains(r, "AUTH") || !strings.Contains(r, "CHUNKING") {
		t.Errorf("LHLO reply %q", r)
	}
	w.must("STARTTLS", "502")
	w.must("AUTH PLAIN "+plain(alice, password), "502")
	w.must("MAIL FROM:<x@example.org>", "250")
	w.must("RCPT TO:<nobody@example.com>", "550 5.1.1")
	w.must("RCPT TO:<someone@example.org>", "550 5.7.1")

	mx, _ := dial(t, ts.addr["mx"])
	if r := mx.cmd("LHLO mta.example.org"); r != "500 5.5.1 This is not a LMTP server" {
		t.Errorf("LHLO on SMTP: %q", r)
	}
}
