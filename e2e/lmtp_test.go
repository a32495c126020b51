package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/emersion/go-smtp"

	"mailgate/internal/mgtest"
)

// lmtpMessage is a message of about size bytes with a unique subject.
func lmtpMessage(tag string, size int) []byte {
	head := fmt.Sprintf("From: <sender@example.org>\r\nTo: <alice@localhost>\r\nSubject: lmtp %s\r\nMessage-ID: <%s@lmtp.test>\r\n\r\n", tag, tag)
	line := strings.Repeat("x", 70) + "\r\n"
	var b strings.Builder
	b.WriteString(head + ".a line that starts with a dot\r\n")
	for b.Len() < size {
		b.WriteString(line)
	}
	return []byte(b.String())
}

// lmtpSend runs one LMTP transaction on c and returns each recipient's
// reply: "250" or the error's code and enhanced code ("452 4.2.2"),
// keyed by recipient; a recipient refused at RCPT is keyed "RCPT addr".
func lmtpSend(t *testing.T, c *smtp.Client, msg []byte, rcpts ...string) map[string]string {
	t.Helper()
	if err := c.Mail("sender@example.org", nil); err != nil {
		t.Fatalf("MAIL: %v", err)
	}
	got := map[string]string{}
	for _, r := range rcpts {
		if err := c.Rcpt(r, nil); err != nil {
			got["RCPT "+r] = replyCode(err)
		}
	}
	w, err := c.Data()
	if err != nil {
		t.Fatalf("DATA: %v", err)
	}
	w.Write(msg)
	resp, err := w.CloseWithLMTPResponse()
	var perRcpt smtp.LMTPDataError
	if err != nil && !errors.As(err, &perRcpt) {
		t.Fatalf("end of DATA: %v", err)
	}
	for r := range resp {
		got[r] = "250"
	}
	for r, e := range perRcpt {
		got[r] = replyCode(e)
	}
	return got
}

func replyCode(err error) string {
	var se *smtp.SMTPError
	if !errors.As(err, &se) {
		return err.Error()
	}
	return fmt.Sprintf("%d %d.%d.%d", se.Code, se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2])
}

func dialLMTP(t *testing.T, network, addr string) *smtp.Client {
	t.Helper()
	conn, err := net.Dial(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	c := smtp.NewClientLMTP(conn)
	t.Cleanup(func() { c.Close() })
	if err := c.Hello("mta.example.org"); err != nil {
		t.Fatalf("LHLO: %v", err)
	}
	return c
}

// TestLMTPListenerAnswersEachRecipient: another MTA hands mail over LMTP;
// each recipient gets its own reply after DATA. bob's mailbox has room
// for less than the message, so bob alone gets 452 4.2.2 and alice's copy
// is queued (250) and stored byte for byte; an unknown local recipient is
// refused at RCPT (550 5.1.1), a remote one too (no relaying); no AUTH,
// no STARTTLS.
func TestLMTPListenerAnswersEachRecipient(t *testing.T) {
	t.Parallel()
	srv := mgtest.Start(t, mgtest.Options{
		Protocols: []string{"lmtp"},
		Users:     map[string]string{"alice@localhost": "pw", "bob@localhost": "pw"},
		Config:    "mailbox:\n  default_quota: 8KB\n",
	})
	c := dialLMTP(t, "tcp", srv.Addr["lmtp"])
	for _, ext := range []string{"AUTH", "STARTTLS"} {
		if ok, _ := c.Extension(ext); ok {
			t.Errorf("LHLO offers %s", ext)
		}
	}
	if got := lmtpSend(t, c, lmtpMessage("filler", 6000), "bob@localhost"); got["bob@localhost"] != "250" {
		t.Fatalf("filler for bob: %v", got)
	}
	srv.WaitLog("rcpt=bob@localhost route=local result=delivered")

	msg := lmtpMessage("mixed", 3000)
	got := lmtpSend(t, c, msg, "alice@localhost", "nobody@localhost", "bob@localhost", "someone@example.com")
	want := map[string]string{
		"alice@localhost": "250", "bob@localhost": "452 4.2.2",
		"RCPT nobody@localhost": "550 5.1.1", "RCPT someone@example.com": "550 5.7.1",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("replies = %v, want %v", got, want)
	}
	line := srv.WaitLog("rcpt=alice@localhost route=local result=delivered")
	id := regexp.MustCompile(`msgid=([0-9a-f]{19})`).FindStringSubmatch(line)
	if id == nil {
		t.Fatalf("delivery line %q", line)
	}
	raw, _ := findMessage(t, srv, id[1])
	if !bytes.HasSuffix(raw, msg) {
		t.Errorf("stored message (%d bytes) does not end with the %d sent:\n%.400q", len(raw), len(msg), raw)
	}
	if !bytes.Contains(raw[:300], []byte("with LMTP id "+id[1])) {
		t.Errorf("stored message has no LMTP Received field for %s:\n%.300s", id[1], raw)
	}
	lmtpBDAT(t, srv, lmtpMessage("bdat", 3000))
}

// lmtpBDAT sends msg to alice and bob (whose mailbox has no room) in two
// BDAT chunks (CHUNKING, RFC 3030) on a raw connection: BDAT LAST gets
// one reply per recipient, alice's 250 naming the queue ID of a copy
// stored byte for byte, bob's 452 4.2.2.
func lmtpBDAT(t *testing.T, srv *mgtest.Server, msg []byte) {
	t.Helper()
	l := dialFrom(t, "", srv.Addr["lmtp"])
	defer l.close()
	l.smtpReply()
	for _, cmd := range []string{"LHLO mta.example.org", "MAIL FROM:<sender@example.org>", "RCPT TO:<alice@localhost>", "RCPT TO:<bob@localhost>"} {
		l.send(cmd)
		if r := l.smtpReply(); !strings.HasPrefix(r, "250 ") {
			t.Fatalf("%s: %q", cmd, r)
		}
	}
	half := len(msg) / 2
	l.c.Write(fmt.Appendf(nil, "BDAT %d\r\n%s", half, msg[:half]))
	if r := l.smtpReply(); r != "250 2.0.0 Continue" {
		t.Fatalf("first chunk: %q", r)
	}
	l.c.Write(fmt.Appendf(nil, "BDAT %d LAST\r\n%s", len(msg)-half, msg[half:]))
	alice, bob := l.smtpReply(), l.smtpReply()
	id, ok := strings.CutPrefix(alice, "250 2.0.0 <alice@localhost> OK: queued as ")
	if !ok || !strings.HasPrefix(bob, "452 4.2.2 <bob@localhost> ") {
		t.Fatalf("replies to BDAT LAST: %q, %q", alice, bob)
	}
	srv.WaitLog("msgid=" + id + " rcpt=alice@localhost route=local result=delivered")
	if raw, _ := findMessage(t, srv, id); !bytes.HasSuffix(raw, msg) {
		t.Errorf("stored message (%d bytes) does not end with the %d sent", len(raw), len(msg))
	}
}

// TestLMTPListenerRefusesSmuggling: the content rules are SMTP's; a bare
// LF before the dot is refused for every recipient (550 5.5.2), and an
// EHLO is told to use LHLO.
func TestLMTPListenerRefusesSmuggling(t *testing.T) {
	t.Parallel()
	srv := mgtest.Start(t, mgtest.Options{Protocols: []string{"lmtp"}, Users: map[string]string{"alice@localhost": "pw", "bob@localhost": "pw"}})
	l := dialFrom(t, "", srv.Addr["lmtp"])
	defer l.close()
	if g := l.smtpReply(); !strings.HasPrefix(g, "220 ") || !strings.Contains(g, "LMTP") {
		t.Fatalf("greeting %q", g)
	}
	l.send("EHLO mta.example.org")
	if r := l.smtpReply(); !strings.HasPrefix(r, "500 5.5.1") {
		t.Errorf("EHLO on LMTP: %q", r)
	}
	for _, step := range []struct{ send, want string }{
		{"LHLO mta.example.org", "250"}, {"MAIL FROM:<a@example.org>", "250"},
		{"RCPT TO:<alice@localhost>", "250"}, {"RCPT TO:<bob@localhost>", "250"}, {"DATA", "354"},
	} {
		l.send(step.send)
		if r := l.smtpReply(); !strings.HasPrefix(r, step.want) {
			t.Fatalf("%s: %q", step.send, r)
		}
	}
	l.send("Subject: x\r\n\r\nhello\n.\nMAIL FROM:<evil@example.org>\r\n.")
	for _, rcpt := range []string{"alice", "bob"} {
		if r := l.smtpReply(); !strings.HasPrefix(r, "550 5.5.2") {
			t.Errorf("reply for %s: %q", rcpt, r)
		}
	}
}

// TestLMTPListenerUnixSocket: a unix: listener gets socket_mode and
// socket_owner, and takes mail through the socket.
func TestLMTPListenerUnixSocket(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("socket_owner needs root to give the socket away")
	}
	mail, err := user.Lookup("mail")
	if err != nil {
		t.Skip("no user mail on this machine")
	}
	srv := mgtest.Start(t, mgtest.Options{Protocols: []string{"lmtp"}, Users: map[string]string{"alice@localhost": "pw"}})
	srv.Stop()
	sock := filepath.Join(srv.Dir, "lmtp.sock")
	cfg, _ := os.ReadFile(srv.ConfigPath)
	text := strings.Replace(string(cfg), "address: "+srv.Addr["lmtp"]+"\n",
		"address: unix:"+sock+"\n    socket_mode: \"0660\"\n    socket_owner: mail\n", 1)
	if err := os.WriteFile(srv.ConfigPath, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	srv.Restart()
	fi, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if fi.Mode().Perm() != 0o660 || strconv.Itoa(int(st.Uid)) != mail.Uid || strconv.Itoa(int(st.Gid)) != mail.Gid {
		t.Errorf("socket mode %v uid %d gid %d, want 0660 and %s:%s", fi.Mode().Perm(), st.Uid, st.Gid, mail.Uid, mail.Gid)
	}
	c := dialLMTP(t, "unix", sock)
	if got := lmtpSend(t, c, lmtpMessage("unix", 500), "alice@localhost"); got["alice@localhost"] != "250" {
		t.Errorf("replies %v", got)
	}
	srv.WaitLog("rcpt=alice@localhost route=local result=delivered")
}

// lmtpBadConfig has a mistake in each LMTP key.
const lmtpBadConfig = `data_dir: DIR
listeners:
  - name: lmtp
    protocol: lmtp
    address: unix:run/lmtp
    socket_mode: "999"
    socket_owner: no-such-user-here
  - name: mx
    protocol: smtp
    address: unix:/run/mx
  - name: lmtp-tcp
    protocol: lmtp
    address: 127.0.0.1:2424
    socket_mode: "0660"
  - name: lmtp2
    protocol: lmtp
    address: unix:/run/mx
    proxy_protocol: true
    trusted_proxies: [127.0.0.1/32]
delivery:
  local:
    lmtp: dovecot
`

// TestLMTPCheckConfig: check-config names each wrong LMTP key with its
// file and line and says what to write instead.
func TestLMTPCheckConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad := writeFile(t, dir, "lmtp.yaml", strings.ReplaceAll(lmtpBadConfig, "DIR", dir))
	want := strings.Join([]string{
		bad + `:5: listeners[0].address: "unix:run/lmtp" is not an absolute socket path; write one such as unix:/run/mailgate/lmtp`,
		bad + `:6: listeners[0].socket_mode: "999" is not a file mode; write an octal mode such as "0660" (quoted)`,
		bad + `:7: listeners[0].socket_owner: no user "no-such-user-here" on this machine; write an existing user, or user:group`,
		bad + `:10: listeners[1].address: only an lmtp listener may listen on a UNIX socket; write host:port`,
		bad + `:14: listeners[2].socket_mode: only a unix: address has a file mode; remove this key`,
		bad + `:17: listeners[3].address: unix:/run/mx is already used by listeners[1]; give each listener its own socket`,
		bad + `:18: listeners[3].proxy_protocol: a unix: socket has no client address for a PROXY header to replace; remove this key`,
		bad + `:22: delivery.local.lmtp: "dovecot" is neither unix:/path nor host:port; write one such as unix:/run/dovecot/lmtp or 127.0.0.1:24`,
	}, "\n") + "\n"
	out, code := mgtest.Run(t, dir, "", "check-config", bad)
	if code != 1 || out != want {
		t.Errorf("check-config: exit %d, output:\n%s\nwant exit 1, output:\n%s", code, out, want)
	}
}
