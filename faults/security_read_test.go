package faults

import (
	"bufio"
	"crypto/tls"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mailgate/internal/mgtest"
)

func newReader(r io.Reader) *bufio.Reader { return bufio.NewReader(r) }

// dialTLSLine connects to an implicit-TLS listener.
func dialTLSLine(t *testing.T, srv *mgtest.Server, listener string) *plainConn {
	t.Helper()
	c, err := tls.Dial("tcp", srv.Addr[listener], srv.ClientTLS())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	return &plainConn{t: t, c: c, r: bufio.NewReader(c)}
}

func startIMAPPOP(t *testing.T) *mgtest.Server {
	return mgtest.Start(t, mgtest.Options{
		Protocols: []string{"smtp", "imaps", "pop3s"},
		Users:     map[string]string{user: pass},
	})
}

// imapLogin opens an IMAPS session as user.
func imapLogin(t *testing.T, srv *mgtest.Server) *plainConn {
	t.Helper()
	p := dialTLSLine(t, srv, "imaps")
	p.until("* OK")
	p.send("a LOGIN " + user + " \"" + pass + "\"\r\n")
	if l := p.until("a "); !strings.HasPrefix(l[len(l)-1], "a OK") {
		t.Fatalf("LOGIN: %q", l)
	}
	return p
}

// TestIMAPLiteralBombs announces literals far over the limit. A
// synchronising one is refused before the client sends a byte; a
// non-synchronising one ({N+}, whose bytes follow at once) ends the
// connection with BYE, so its bytes are never read as commands.
func TestIMAPLiteralBombs(t *testing.T) {
	t.Parallel()
	srv := startIMAPPOP(t)

	p := imapLogin(t, srv)
	p.send("b APPEND INBOX {104857601}\r\n")
	got := p.line()
	if strings.HasPrefix(got, "+") || !(strings.HasPrefix(got, "b NO") || strings.HasPrefix(got, "b BAD") || strings.HasPrefix(got, "* BYE")) {
		t.Errorf("synchronising 100 MB literal answered %q, want NO/BAD without a continuation", got)
	}
	sync := got

	p = imapLogin(t, srv)
	p.send("c APPEND INBOX {104857601+}\r\nd LOGOUT\r\ne CREATE smuggled\r\n")
	var lines []string
	for l := p.line(); l != ""; l = p.line() {
		lines = append(lines, l)
	}
	all := strings.Join(lines, "\n")
	if !strings.Contains(all, "* BYE") {
		t.Errorf("non-synchronising 100 MB literal: no BYE; got %q", lines)
	}
	if strings.Contains(all, "e OK") || strings.Contains(all, "d OK") {
		t.Errorf("bytes of the refused literal ran as commands: %q", lines)
	}
	report(t, "sync literal -> %q; non-sync literal -> %q then close", sync, lines)
}

// TestIMAPPathTraversal tries to make, select, rename and append to
// folders whose names climb out of the account's directory. Every one is
// refused, and no file or directory appears outside the account.
func TestIMAPPathTraversal(t *testing.T) {
	t.Parallel()
	srv := startIMAPPOP(t)
	p := imapLogin(t, srv)
	before := tree(t, srv.Dir)
	names := []string{"../evil", "../../evil", "a/../../evil", "/evil", "~root/evil", "INBOX/../../evil", "..", ".", "./..", "evil\x00x", "..\\evil", "&AC4ALg-/evil"}
	n, closed := 0, 0
	for _, name := range names {
		for _, cmd := range []string{"CREATE %s", "SELECT %s", "RENAME INBOX %s", "APPEND %s {3+}\r\nx\r\n", "DELETE %s", "SUBSCRIBE %s"} {
			n++
			quoted := "\"" + strings.ReplaceAll(name, "\\", "\\\\") + "\""
			p.send("t " + strings.Replace(cmd, "%s", quoted, 1) + "\r\n")
			last := p.line()
			for strings.HasPrefix(last, "* ") || strings.HasPrefix(last, "+ ") {
				last = p.line()
			}
			if last == "" { // the server closed on it: refused, too
				closed++
				p = imapLogin(t, srv)
				continue
			}
			if strings.HasPrefix(last, "t OK") && !strings.HasPrefix(cmd, "SUBSCRIBE") {
				t.Errorf("%s with %q answered %q", strings.Fields(cmd)[0], name, last)
			}
		}
	}
	after := tree(t, srv.Dir)
	acct := filepath.Join(srv.MailDir(), user)
	for p := range after {
		if !before[p] && p != acct && !strings.HasPrefix(p, acct+string(filepath.Separator)) && !strings.HasPrefix(p, filepath.Join(srv.DataDir, "queue")) {
			t.Errorf("new path outside the account: %s", p)
		}
		if strings.Contains(filepath.Base(p), "evil") && !strings.HasPrefix(filepath.Base(p), ".") {
			t.Errorf("a folder named after the attack exists: %s", p)
		}
	}
	report(t, "%d traversal commands tried, none succeeded (%d answered by closing the connection); nothing created outside the account", n, closed)
}

// tree lists every path under dir.
func tree(t *testing.T, dir string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err == nil {
			out[p] = true
		}
		return nil
	})
	return out
}

// TestPOP3ConcurrentSessions: while one POP3 session holds the maildrop,
// a second login is refused with [IN-USE] (RFC 2449); once the first
// quits, its deletions are committed and the next session sees them.
func TestPOP3ConcurrentSessions(t *testing.T) {
	t.Parallel()
	srv := startIMAPPOP(t)
	for i := range 2 {
		sendLocal(t, srv, "Subject: pop "+string(rune('0'+i))+"\r\n\r\nhello\r\n")
	}
	waitLogCount(t, srv, "msg=delivered ", 2)
	login := func() (*plainConn, string) {
		p := dialTLSLine(t, srv, "pop3s")
		p.until("+OK")
		p.send("USER " + user + "\r\n")
		p.line()
		p.send("PASS " + pass + "\r\n")
		return p, p.line()
	}
	first, ok := login()
	if !strings.HasPrefix(ok, "+OK") {
		t.Fatalf("first login: %q", ok)
	}
	_, second := login()
	if !strings.HasPrefix(second, "-ERR [IN-USE]") {
		t.Errorf("second concurrent login answered %q, want -ERR [IN-USE]", second)
	}
	first.send("DELE 1\r\n")
	first.line()
	first.send("QUIT\r\n")
	if l := first.line(); !strings.HasPrefix(l, "+OK") {
		t.Errorf("QUIT: %q", l)
	}
	// The lock is released after the +OK, as the session ends: wait for
	// the close (a client logging in again between the two is refused
	// [IN-USE]; reported).
	if l := first.line(); l != "" {
		t.Errorf("after QUIT: %q, want the connection closed", l)
	}
	third, ok := login()
	if !strings.HasPrefix(ok, "+OK") {
		t.Fatalf("login after the first quit: %q", ok)
	}
	third.send("STAT\r\n")
	if l := third.line(); !strings.HasPrefix(l, "+OK 1 ") {
		t.Errorf("STAT after the first session deleted one of two: %q", l)
	}
	report(t, "second login while the first holds the maildrop -> %q", second)
}

// sendLocal delivers a message to user through the MX port.
func sendLocal(t *testing.T, srv *mgtest.Server, msg string) {
	t.Helper()
	p := dialPlain(t, srv.Addr["smtp"])
	p.until("220 ")
	for _, c := range []string{"EHLO a.test", "MAIL FROM:<x@outside.test>", "RCPT TO:<" + user + ">"} {
		p.send(c + "\r\n")
		if l := p.until("250 "); len(l) == 0 {
			t.Fatal(c)
		}
	}
	p.send("DATA\r\n")
	p.until("354")
	p.send(msg + ".\r\n")
	p.until("250 ")
}

// TestPlusTagTraversal: local delivery files user+tag mail in the folder
// the tag names. Tags that climb out of the account are refused at RCPT
// or land inside the account; nothing appears outside it.
func TestPlusTagTraversal(t *testing.T) {
	t.Parallel()
	srv := startIMAPPOP(t)
	before := tree(t, srv.Dir)
	local := strings.TrimSuffix(user, "@localhost")
	tags := []string{"../../evil", "..", "../x", "/etc/evil", "a/../../evil", "~root", "%2e%2e", ".evil", "evil\\..\\..\\x"}
	refused, stored := 0, 0
	for _, tag := range tags {
		p := dialPlain(t, srv.Addr["smtp"])
		p.until("220 ")
		p.send("EHLO a.test\r\n")
		p.until("250 ")
		p.send("MAIL FROM:<x@outside.test>\r\n")
		p.line()
		p.send("RCPT TO:<" + local + "+" + tag + "@localhost>\r\n")
		if got := p.line(); !strings.HasPrefix(got, "250") {
			refused++
			continue
		}
		p.send("DATA\r\n")
		p.until("354")
		p.send("Subject: tag " + tag + "\r\n\r\nx\r\n.\r\n")
		if got := p.line(); strings.HasPrefix(got, "250") {
			stored++
		}
	}
	waitQueueEmptyLog(t, srv, stored)
	acct := filepath.Join(srv.MailDir(), user)
	for p := range tree(t, srv.Dir) {
		if !before[p] && p != acct && !strings.HasPrefix(p, acct+string(filepath.Separator)) && !strings.HasPrefix(p, filepath.Join(srv.DataDir, "queue")) {
			t.Errorf("delivery created a path outside the account: %s", p)
		}
	}
	if got := len(mailboxFiles(t, acct)); got != stored {
		t.Errorf("%d messages in the account, want the %d accepted", got, stored)
	}
	report(t, "%d +tags that climb out: %d refused at RCPT, %d stored inside the account", len(tags), refused, stored)
}

// waitQueueEmptyLog waits for n "removed" lines: every accepted message
// has left the spool (this server has no admin listener).
func waitQueueEmptyLog(t *testing.T, srv *mgtest.Server, n int) {
	t.Helper()
	if n > 0 {
		waitLogCount(t, srv, "msg=removed ", n)
	}
}
