package relay_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"mailgate/config"
)

// largeMessage is a 3 MB message, past the 1 MB the relay keeps in memory.
func largeMessage(subject string) string {
	return "From: someone@remote.example\r\nSubject: " + subject + "\r\n\r\n" +
		strings.Repeat("a line of a large message, forty octets\r\n", 3<<20/41)
}

func largeServer(t *testing.T) *testServer {
	return startServer(t, func(c *config.Config) { c.Limits.MaxMessageSize = 8 << 20 })
}

// TestLargeMessageSpooledExactly: a message past 1 MB is read to a file,
// not memory, and the spool holds exactly the Received header and the
// bytes sent, whether it came by DATA in clear, DATA after STARTTLS (both
// read in bulk by the relay) or BDAT chunks; no file is left
// behind but the spooled message.
func TestLargeMessageSpooledExactly(t *testing.T) {
	t.Parallel()
	ts := largeServer(t)
	for _, starttls := range []bool{false, true} {
		dial := func() (*smtp.Client, error) { return smtp.Dial(ts.addr["mx"]) }
		with := "ESMTP"
		if starttls {
			dial = func() (*smtp.Client, error) { return smtp.DialStartTLS(ts.addr["mx"], ts.tls) }
			with = "ESMTPS"
		}
		c, err := dial()
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Hello("client.example.net"); err != nil {
			t.Fatal(err)
		}
		msg := largeMessage(with)
		id := submit(t, c, "someone@remote.example", nil, map[string]*smtp.RcptOptions{bob: nil}, msg)
		state, _ := c.TLSConnectionState()
		c.Close()
		tlsState := &state
		if !starttls {
			tlsState = nil
		}
		if _, raw := ts.spooled(id); string(raw) != received(id, with, tlsState, "", bob)+msg {
			t.Errorf("%s: spooled %d bytes, not the %d sent after the Received header", with, len(raw), len(msg))
		}
	}
	// BDAT: three chunks, the last one small.
	w, _ := dial(t, ts.addr["mx"])
	w.must("EHLO client.example.net", "250")
	w.must("MAIL FROM:<someone@remote.example>", "250")
	w.must("RCPT TO:<"+bob+">", "250")
	msg := largeMessage("BDAT")
	for i, part := range []string{msg[:1<<20], msg[1<<20 : len(msg)-10], msg[len(msg)-10:]} {
		last := ""
		if i == 2 {
			last = " LAST"
		}
		w.write(fmt.Sprintf("BDAT %d%s\r\n%s", len(part), last, part))
		got := w.reply()
		if !strings.HasPrefix(got, "250 ") {
			t.Fatalf("BDAT chunk %d: %q", i, got)
		}
		if id, ok := strings.CutPrefix(got, "250 2.0.0 OK: queued as "); ok {
			if _, raw := ts.spooled(id); !strings.HasSuffix(string(raw), "\r\n"+msg) {
				t.Errorf("BDAT: spooled %d bytes, not the %d sent", len(raw), len(msg))
			}
		}
	}
	if files := ts.spoolFiles(); len(files) != 3 {
		t.Errorf("spool holds %v, want the three messages' files only", files)
	}
}

// TestLargeMessageRefusals: past 1 MB the checks still see every byte: a
// bare LF at 2 MB is refused, as is a header section that does not end
// within 1 MB (552 5.3.4, it must fit in memory for the filters) and a
// message over max_message_size; none leaves a file.
func TestLargeMessageRefusals(t *testing.T) {
	t.Parallel()
	ts := largeServer(t)
	msg := largeMessage("bare LF")
	bareLF := msg[:2<<20] + "smuggled\n.\n" + msg[2<<20:]
	hugeHeader := strings.Repeat("X-Filler: "+strings.Repeat("h", 500)+"\r\n", 3000) + "\r\nbody\r\n"
	tooBig := msg + msg + msg
	for _, tc := range []struct{ name, msg, want string }{
		{"bare LF at 2 MB", bareLF, "550 5.5.2 "},
		{"2 MB header", hugeHeader, "552 5.3.4 "},
		{"9 MB message", tooBig, "552 5.3.4 "},
	} {
		w, _ := dial(t, ts.addr["mx"])
		w.must("EHLO client.example.net", "250")
		w.must("MAIL FROM:<someone@remote.example>", "250")
		w.must("RCPT TO:<"+bob+">", "250")
		w.must("DATA", "354")
		w.write(tc.msg + ".\r\n")
		if got := w.reply(); !strings.HasPrefix(got, tc.want) {
			t.Errorf("%s: %q, want %s", tc.name, got, tc.want)
		}
		w.must("NOOP", "250") // the session goes on
	}
	if files := ts.spoolFiles(); len(files) != 0 {
		t.Errorf("spool holds %v", files)
	}
}
