package e2e

import (
	"strings"
	"testing"

	"mailgate/internal/testenv"
)

// TestLogLinesHaveNoRepeatedKey runs a day's worth of events through the
// binary at log.level debug (submissions, a rejection after login, a
// failed login, local delivery, IMAP and POP3 sessions with mistakes in
// them, a lockout) and checks that no log line names a key twice: with
// two msg= (issue 14) most log tools keep only one.
func TestLogLinesHaveNoRepeatedKey(t *testing.T) {
	srv := loginServer(t, "log:\n  level: debug\n")
	sub, imap, pop := srv.Addr["submission"], srv.Addr["imap"], srv.Addr["pop3"]
	c := dialFrom(t, "127.0.0.1", sub)
	c.smtpReply()
	for _, cmd := range []string{"EHLO client.example", "AUTH PLAIN " + plainIR("alice@localhost", "correct horse"),
		"MAIL FROM:<alice@localhost>", "RCPT TO:<nobody@localhost>", "RCPT TO:<alice@localhost>", "DATA"} {
		c.send(cmd)
		c.smtpReply()
	}
	c.send("Subject: hi\r\n\r\nhello\r\n.")
	c.smtpReply()
	c.send("BOGUS")
	c.smtpReply()
	c.send("QUIT")
	c.close()
	srv.WaitLog("msg=delivered")

	i := dialFrom(t, "127.0.0.1", imap)
	i.line()
	for _, cmd := range []string{`a LOGIN "alice@localhost" "correct horse"`, "b SELECT INBOX", "c FETCH 1 (BODY[])", "d FOO", "e LOGOUT"} {
		i.send(cmd)
		i.untilTagged(cmd[:1])
	}
	i.close()
	// Lines imapserver and go-smtp log themselves: a command imapserver
	// cannot read, and clear text on the implicit-TLS port.
	i = dialFrom(t, "127.0.0.1", imap)
	i.line()
	i.send("x")
	i.line()
	i.close()
	tlsPort := dialFrom(t, "127.0.0.1", srv.Addr["submissions"])
	tlsPort.send("EHLO client.example")
	tlsPort.line()
	tlsPort.close()
	p := dialFrom(t, "127.0.0.1", pop)
	p.line()
	for _, cmd := range []string{"USER alice@localhost", "PASS correct horse", "RETR 1", "XYZZY", "QUIT"} {
		p.send(cmd)
		p.line()
	}
	p.close()
	for range 4 {
		smtpAuth(t, "127.0.0.3", sub, "alice@localhost", "wrong")
	}
	srv.WaitLog(`msg="login lockout"`)
	srv.Stop()

	lines := strings.Split(srv.Logs(), "\n")
	if len(lines) < 30 {
		t.Fatalf("only %d log lines; the scenario did not run", len(lines))
	}
	for _, l := range lines {
		if k := testenv.RepeatedLogKey(l); k != "" {
			t.Errorf("key %q twice in: %s", k, l)
		}
	}
}
