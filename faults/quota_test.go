package faults

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mailgate/internal/mgtest"
	"mailgate/internal/testenv"
)

// TestQuotaAtSMTPTime: mail for a local mailbox that cannot take it is
// refused during the SMTP transaction on the MX port, as swaks shows, and
// never accepted and then bounced to a sender who may be forged: a message
// larger than the whole quota gets 552 5.2.2 after DATA, one that does not
// fit beside what is stored gets 452 4.2.2 after DATA, and once the
// mailbox is full, RCPT itself gets 452 4.2.2.
func TestQuotaAtSMTPTime(t *testing.T) {
	t.Parallel()
	swaks := testenv.Tool(t, "swaks")
	const bob = "bob@localhost"
	srv := mgtest.Start(t, mgtest.Options{Protocols: []string{"smtp"}, Users: map[string]string{bob: "bob-pw"},
		Config: "mailbox:\n  default_quota: 3000\n"})
	h, p, _ := strings.Cut(srv.Addr["smtp"], ":")
	send := func(size int) string {
		t.Helper()
		file := filepath.Join(t.TempDir(), "msg")
		body := strings.Repeat("quota test line, seventy characters long, to fill up the mailbox...\r\n", size/70)
		os.WriteFile(file, []byte("From: friend@outside.test\r\nTo: "+bob+"\r\nSubject: quota\r\n\r\n"+body), 0o600)
		out, _ := runTool(swaks, "--server", h, "--port", p, "--from", "friend@outside.test", "--to", bob, "--data", file, "--timeout", "60")
		return out
	}
	if out := send(5000); !strings.Contains(out, "<** 552 5.2.2 Message too large for the mailbox of <bob@localhost>: ") ||
		!strings.Contains(out, "and the whole mailbox holds 3000; send a smaller message") {
		t.Errorf("5000 bytes to a 3000-byte mailbox: want 552 5.2.2 after DATA:\n%s", out)
	}
	if out := send(1700); !strings.Contains(out, " 250 2.0.0 OK: queued as ") {
		t.Fatalf("1700 bytes to an empty 3000-byte mailbox refused:\n%s", out)
	}
	srv.WaitLog("msg=delivered ")
	if out := send(1700); !strings.Contains(out, "<** 452 4.2.2 Mailbox of <bob@localhost> is full; try again later") {
		t.Errorf("a second 1700 bytes: want 452 4.2.2 after DATA:\n%s", out)
	}
	// The account's quota lowered below what it stores: full at RCPT.
	srv.Kill()
	if out, code := srv.Run("", "user", "update", bob, "--quota", "1000", "-config", srv.ConfigPath); code != 0 {
		t.Fatalf("user update --quota: %s", out)
	}
	srv.Restart()
	out := send(100)
	if !strings.Contains(out, "<** 452 4.2.2 Mailbox of <bob@localhost> is full; try again later") || strings.Contains(out, "354") {
		t.Errorf("to a full mailbox: want 452 4.2.2 at RCPT, before DATA:\n%s", out)
	}
	if logs := srv.Logs(); strings.Contains(logs, "msg=bounced") || strings.Contains(logs, "report queued") {
		t.Errorf("a refused message was bounced:\n%s", logs)
	}
	if n := countFiles(t, filepath.Join(srv.MailDir(), bob)); n != 1 {
		t.Errorf("bob's mailbox holds %d messages, want 1", n)
	}
}

// countFiles counts the messages in a Maildir's new/ and cur/.
func countFiles(t *testing.T, maildir string) int {
	t.Helper()
	n := 0
	for _, sub := range []string{"new", "cur"} {
		files, _ := filepath.Glob(filepath.Join(maildir, sub, "*"))
		n += len(files)
	}
	return n
}
