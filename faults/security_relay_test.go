package faults

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mailgate/internal/smtptest"
)

// relayProbes are recipient addresses that tricked open relays in the
// past (percent hack, source routes, bang paths, quoted local parts,
// address literals, trailing dots, case). Without AUTH, none may reach
// the remote sink.
var relayProbes = []string{
	"victim@sink.test",
	"VICTIM@SINK.TEST",
	"victim@sink.test.",
	"victim%sink.test@localhost",
	"victim%sink.test",
	"@localhost:victim@sink.test",
	"@localhost,@sink.test:victim@sink.test",
	"victim@sink.test@localhost",
	"victim@localhost@sink.test",
	`"victim@sink.test"@localhost`,
	`"victim@sink.test"`,
	"sink.test!victim@localhost",
	"sink.test!victim",
	"victim@[127.0.0.1]",
	"victim@[IPv6:::1]",
	"victim@localhost.sink.test",
	"victim@sink.test\x00@localhost",
	"<victim@sink.test>",
	"victim@sink.test> <app@localhost",
}

// TestOpenRelayProbes sends every probe on the MX port without AUTH, and
// on the submission port after STARTTLS without AUTH. Each must be
// refused with a 5xx that names the problem, or, if accepted, must stay
// local; the sink must get nothing but the marker sent afterwards by a
// logged-in user.
func TestOpenRelayProbes(t *testing.T) {
	t.Parallel()
	w := startSinkWorld(t, smtptest.Config{}, "")
	refused, acceptedLocal := 0, 0
	for _, listener := range []string{"smtp", "submission"} {
		for _, rcpt := range relayProbes {
			p := dialPlain(t, w.srv.Addr[listener])
			p.until("220 ")
			p.send("EHLO probe.test\r\n")
			p.until("250 ")
			if listener == "submission" {
				p.send("STARTTLS\r\n")
				p.until("220 ")
				if !p.upgrade(w.srv) {
					t.Fatal("STARTTLS failed")
				}
				p.send("EHLO probe.test\r\n")
				p.until("250 ")
			}
			p.send("MAIL FROM:<probe@outside.test>\r\n")
			mail := p.line()
			p.send("RCPT TO:<" + rcpt + ">\r\n")
			got := p.line()
			switch {
			case strings.HasPrefix(got, "5") && len(got) > 10 && got[4] == '5':
				refused++
			case strings.HasPrefix(got, "250"):
				acceptedLocal++
				p.send("DATA\r\n")
				if l := p.line(); strings.HasPrefix(l, "354") {
					p.send("Subject: relay probe\r\nX-Fault-Token: probe\r\n\r\nprobe\r\n.\r\n")
					p.line()
				}
			default:
				t.Errorf("%s: MAIL %q, RCPT TO:<%q> answered %q: want a 5.x.x refusal", listener, mail, rcpt, got)
			}
			p.send("QUIT\r\n")
		}
	}
	submit(t, w.srv, sinkRcp, faultMessage("relay-marker", 1))
	w.sink.WaitMessages(t, 1, mgtestTimeout)
	waitQueueEmpty(t, w.srv)
	for _, m := range w.sink.Messages() {
		if tokenRE.FindSubmatch(m.Raw) == nil || string(tokenRE.FindSubmatch(m.Raw)[1]) != "relay-marker" {
			t.Errorf("open relay: the sink got a probe for %v:\n%.300s", m.Rcpts, m.Raw)
		}
	}
	report(t, "probes=%d on MX and unauthenticated submission: refused=%d accepted-for-local-delivery=%d relayed=%d",
		2*len(relayProbes), refused, acceptedLocal, len(w.sink.Messages())-1)
}

// TestHeaderInjectionThroughEnvelope puts bare CRs followed by header
// text into HELO, MAIL FROM and RCPT TO, and has the remote answer with
// one in its rejection. Neither the Received header of the stored
// message nor the bounce (DSN) the sender gets may carry the injected
// line.
func TestHeaderInjectionThroughEnvelope(t *testing.T) {
	t.Parallel()
	const inj = "\rX-Injected: yes"
	w := startSinkWorld(t, smtptest.Config{RcptReplies: map[string][]string{
		"victim@sink.test": {"550 5.1.1 no such user" + inj},
	}}, "")
	// Inbound on MX, to the local user: HELO, MAIL and RCPT all carry it.
	p := dialPlain(t, w.srv.Addr["smtp"])
	p.until("220 ")
	p.send("EHLO evil.test" + inj + "\r\n")
	helo := p.until("250 ")
	p.send("MAIL FROM:<probe@outside.test>" + inj + "\r\n")
	mail := p.line()
	if !strings.HasPrefix(mail, "250") {
		p.send("MAIL FROM:<probe@outside.test>\r\n")
		p.line()
	}
	p.send("RCPT TO:<" + user + ">" + inj + "\r\n")
	rcpt := p.line()
	if !strings.HasPrefix(rcpt, "250") {
		p.send("RCPT TO:<" + user + ">\r\n")
		p.line()
	}
	p.send("DATA\r\n")
	p.until("354")
	p.send("Subject: header injection\r\n\r\nbody\r\n.\r\n")
	if got := p.line(); !strings.HasPrefix(got, "250") {
		t.Fatalf("clean DATA refused: %q", got)
	}
	// Outbound: the remote refuses with an injected line; the sender
	// gets a DSN in their mailbox.
	submit(t, w.srv, "victim@sink.test", faultMessage("inject-dsn", 2))
	w.srv.WaitLog("msg=bounced")
	waitQueueEmpty(t, w.srv)
	msgs := mailboxFiles(t, w.srv.MailDir())
	if len(msgs) < 2 {
		t.Fatalf("mailbox holds %d messages, want the stored one and the DSN", len(msgs))
	}
	for name, m := range msgs {
		if strings.Contains(m, "\nX-Injected") || strings.Contains(m, "\rX-Injected") {
			t.Errorf("%s carries the injected header line:\n%s", name, m)
		}
		head, _, _ := strings.Cut(m, "\r\n\r\n")
		if i := strings.Index(strings.ReplaceAll(head, "\r\n", ""), "\r"); i >= 0 {
			t.Errorf("%s has a bare CR in its header section:\n%q", name, head)
		}
	}
	report(t, "EHLO -> %q, MAIL -> %q, RCPT -> %q; stored message and DSN free of the injected line", helo[len(helo)-1], mail, rcpt)
}

// mailboxFiles returns every message file under the mail directory.
func mailboxFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() && (filepath.Base(filepath.Dir(p)) == "new" || filepath.Base(filepath.Dir(p)) == "cur") {
			b, _ := os.ReadFile(p)
			out[p] = string(b)
		}
		return nil
	})
	return out
}
