package interop

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"mailgate/internal/mgtest"
	"mailgate/internal/testenv"
)

// lmtpDomain is the local domain of the LMTP tests.
const lmtpDomain = "lmtp.test"

// lmtpFiller returns a message of about size bytes, to fill a mailbox.
func lmtpFiller(size int) string {
	return "Subject: filler\r\n\r\n" + strings.Repeat(strings.Repeat("f", 70)+"\r\n", size/72)
}

// lmtpMsg is testMessage addressed to the LMTP tests' recipients.
func lmtpMsg(tag string) string {
	return strings.ReplaceAll(testMessage(tag), user, "alice@"+lmtpDomain)
}

// fillOverLMTP delivers a filler message to rcpt over mailgate's LMTP
// listener at addr ("unix:/path" or host:port) with go-smtp's LMTP
// client.
func fillOverLMTP(t *testing.T, addr, rcpt string, size int) {
	t.Helper()
	network := "tcp"
	if p, ok := strings.CutPrefix(addr, "unix:"); ok {
		network, addr = "unix", p
	}
	conn, err := net.Dial(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	c := smtp.NewClientLMTP(conn)
	defer c.Close()
	if err := c.SendMail("filler@example.org", []string{rcpt}, strings.NewReader(lmtpFiller(size))); err != nil {
		t.Fatalf("filler for %s: %v", rcpt, err)
	}
}

// moveLMTPToSocket restarts srv with its lmtp listener on a UNIX socket
// that only the postfix user (and root) may use, in a directory Postfix
// can reach, and returns the socket's path.
func moveLMTPToSocket(t *testing.T, srv *mgtest.Server) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "mglmtp-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	sock := filepath.Join(dir, "lmtp")
	srv.Stop()
	cfg, err := os.ReadFile(srv.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(cfg), "address: "+srv.Addr["lmtp"]+"\n",
		"address: unix:"+sock+"\n    socket_mode: \"0660\"\n    socket_owner: postfix\n", 1)
	writeFile(t, filepath.Dir(srv.ConfigPath), filepath.Base(srv.ConfigPath), text)
	srv.Restart()
	return sock
}

// TestPostfixDeliversOverLMTP: Postfix, the edge MTA, hands mail for
// mailgate's domain to mailgate's LMTP listener, over TCP
// (transport_maps lmtp:[127.0.0.1]:port) and over a UNIX socket owned by
// postfix with mode 0660 (lmtp:unix:/path). alice's copy is stored and
// read back over IMAP with imaplib byte for byte; bob's mailbox has too
// little room, so mailgate answers 452 4.2.2 for bob alone and Postfix
// keeps bob's copy deferred.
func TestPostfixDeliversOverLMTP(t *testing.T) {
	for _, socket := range []bool{false, true} {
		t.Run(map[bool]string{false: "tcp", true: "unix"}[socket], func(t *testing.T) { postfixOverLMTP(t, socket) })
	}
}

func postfixOverLMTP(t *testing.T, socket bool) {
	python := testenv.Tool(t, "python3")
	srv := mgtest.Start(t, mgtest.Options{
		LocalDomain: lmtpDomain, Protocols: []string{"lmtp", "imap"},
		Users:  map[string]string{"alice@" + lmtpDomain: pass, "bob@" + lmtpDomain: pass},
		Config: "mailbox:\n  default_quota: 8KB\n",
	})
	lmtpAddr, nexthop := srv.Addr["lmtp"], "["+strings.Replace(srv.Addr["lmtp"], ":", "]:", 1)
	if socket {
		sock := moveLMTPToSocket(t, srv)
		lmtpAddr, nexthop = "unix:"+sock, "unix:"+sock
	}
	fillOverLMTP(t, lmtpAddr, "bob@"+lmtpDomain, 7900)
	srv.WaitLog("rcpt=bob@" + lmtpDomain + " route=local result=delivered")

	pf := startPostfixWith(t, "", fmt.Sprintf("relay_domains = %s\ntransport_maps = inline:{ %s=lmtp:%s }\n",
		lmtpDomain, lmtpDomain, nexthop))
	msg := lmtpMsg("postfix-lmtp")
	h, p := hostPort(pf.Addr)
	run(t, t.TempDir(), msg, python, "-c", `import smtplib, sys
s = smtplib.SMTP(sys.argv[1], int(sys.argv[2]), timeout=30)
s.sendmail("sender@pf.test", ["alice@`+lmtpDomain+`", "bob@`+lmtpDomain+`"], sys.stdin.buffer.read())
s.quit()`, h, p)

	srv.WaitLog("rcpt=alice@" + lmtpDomain + " route=local result=delivered")
	got := readIMAP(t, srv, "alice@"+lmtpDomain)
	if len(got) != 1 {
		t.Fatalf("alice has %d messages, want 1", len(got))
	}
	checkDelivered(t, "alice over IMAP", got[0], msg)
	if !strings.Contains(string(got[0]), "with LMTP id ") {
		t.Errorf("no LMTP Received field from mailgate:\n%.500s", got[0])
	}
	waitMaillog(t, pf, "to=<bob@"+lmtpDomain+">", "status=deferred", "452 4.2.2")
	waitMaillog(t, pf, "to=<alice@"+lmtpDomain+">", "status=sent", "250 2.0.0")
}

// readIMAP reads every message of account's INBOX from mailgate with
// imaplib over STARTTLS.
func readIMAP(t *testing.T, srv *mgtest.Server, account string) [][]byte {
	t.Helper()
	dir := t.TempDir()
	script := writeFile(t, dir, "read.py", readScript)
	out := filepath.Join(dir, "out")
	os.Mkdir(out, 0o700)
	h, p := hostPort(srv.Addr["imap"])
	run(t, dir, "", testenv.Tool(t, "python3"), script, "imaplib", "starttls", h, p, certFile(srv), account, pass, out)
	return readDir(t, out)
}

// waitMaillog waits until one line of Postfix's log holds every part.
func waitMaillog(t *testing.T, pf *postfixInstance, parts ...string) {
	t.Helper()
	waitFor(t, func() (bool, string) {
		log, _ := os.ReadFile(filepath.Join(pf.Dir, "maillog"))
		for _, line := range strings.Split(string(log), "\n") {
			if containsAll(line, parts) {
				return true, ""
			}
		}
		return false, fmt.Sprintf("no Postfix log line with %q:\n%s", parts, log)
	})
}

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

// dovecotInstance is a private Dovecot (imap and lmtp) under a temp dir:
// IMAP on a loopback port, LMTP on a UNIX socket, mail in Maildirs owned
// by the mail user, accounts in a passwd-file with per-user quotas.
type dovecotInstance struct {
	Dir, IMAP, LMTPSocket string
}

// startDovecot runs `dovecot -F -c CONF`; users maps an address to its
// quota rule (such as "*:storage=4K").
func startDovecot(t *testing.T, users map[string]string) *dovecotInstance {
	t.Helper()
	bin := testenv.Tool(t, "dovecot")
	dir, err := os.MkdirTemp("", "mgdc-") // short: UNIX socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	dc := &dovecotInstance{Dir: dir, IMAP: mgtest.FreeAddr(t), LMTPSocket: filepath.Join(dir, "run", "lmtp")}
	mail := filepath.Join(dir, "mail")
	os.MkdirAll(mail, 0o755)
	run(t, dir, "", "chown", "mail:mail", mail)
	var pw strings.Builder
	for addr, rule := range users {
		fmt.Fprintf(&pw, "%s:{PLAIN}%s::::::userdb_quota_rule=%s\n", addr, pass, rule)
	}
	os.Chmod(writeFile(t, dir, "passwd", pw.String()), 0o644) // read by the auth process (user dovecot)
	_, port := hostPort(dc.IMAP)
	conf := fmt.Sprintf(`base_dir = %[1]s/run
state_dir = %[1]s/state
log_path = %[1]s/dovecot.log
instance_name = mgdc-%[3]s
protocols = imap lmtp
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
default_login_user = dovenull
default_internal_user = dovecot
first_valid_uid = 8
mail_location = maildir:%[2]s/%%n
mail_plugins = quota
quota_full_tempfail = yes
passdb {
  driver = passwd-file
  args = %[1]s/passwd
}
userdb {
  driver = passwd-file
  args = %[1]s/passwd
  default_fields = uid=mail gid=mail home=%[2]s/%%n
}
service imap-login {
  inet_listener imap {
    port = %[3]s
  }
  inet_listener imaps {
    port = 0
  }
}
service lmtp {
  unix_listener lmtp {
    mode = 0666
  }
}
plugin {
  quota = maildir:User quota
}
`, dir, mail, port)
	cfg := writeFile(t, dir, "dovecot.conf", conf)
	os.Chmod(cfg, 0o644)
	cmd := exec.Command(bin, "-F", "-c", cfg)
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "dovecot.log"))
			t.Logf("dovecot log:\n%s", log)
		}
	})
	waitListening(t, dc.IMAP)
	waitFor(t, func() (bool, string) {
		_, err := os.Stat(dc.LMTPSocket)
		return err == nil, "no LMTP socket " + dc.LMTPSocket
	})
	return dc
}

// fill puts a message of size bytes into user's Maildir before Dovecot
// first opens it, so that the quota counts it.
func (dc *dovecotInstance) fill(t *testing.T, user string, size int) {
	t.Helper()
	cur := filepath.Join(dc.Dir, "mail", user, "cur")
	for _, d := range []string{"cur", "new", "tmp"} {
		os.MkdirAll(filepath.Join(dc.Dir, "mail", user, d), 0o700)
	}
	body := lmtpFiller(size)
	os.WriteFile(filepath.Join(cur, fmt.Sprintf("1700000000.M1P1.filler,S=%d:2,S", len(body))), []byte(body), 0o600)
	run(t, dc.Dir, "", "chown", "-R", "mail:mail", filepath.Join(dc.Dir, "mail", user))
}

// readIMAP reads every message of account's INBOX from Dovecot with
// imaplib (plain IMAP on loopback).
func (dc *dovecotInstance) readIMAP(t *testing.T, account string) [][]byte {
	t.Helper()
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	os.Mkdir(out, 0o700)
	h, p := hostPort(dc.IMAP)
	run(t, dir, "", testenv.Tool(t, "python3"), "-c", `import imaplib, os, sys
host, port, user, password, out = sys.argv[1:]
c = imaplib.IMAP4(host, int(port), timeout=30)
c.login(user, password)
c.select("INBOX", readonly=True)
_, data = c.search(None, "ALL")
for i, num in enumerate(data[0].split()):
    _, d = c.fetch(num, "(BODY.PEEK[])")
    with open(os.path.join(out, str(i)), "wb") as f:
        f.write(d[0][1])
c.logout()`, h, p, account, pass, out)
	return readDir(t, out)
}

// TestMailgateDeliversToDovecotLMTP: with delivery.local.lmtp pointing
// at Dovecot's LMTP socket, mail that mailgate accepts for its domain is
// stored by Dovecot: alice's copy is read back over Dovecot's IMAP byte
// for byte; bob's mailbox is over its quota, so Dovecot answers 452 for
// bob alone and mailgate defers bob (retry); carol is unknown to Dovecot
// (550 5.1.1 at RCPT) and bounces. All three in one LMTP transaction.
func TestMailgateDeliversToDovecotLMTP(t *testing.T) {
	python := testenv.Tool(t, "python3")
	alice, bob, carol := "alice@"+lmtpDomain, "bob@"+lmtpDomain, "carol@"+lmtpDomain
	dc := startDovecot(t, map[string]string{alice: "*:storage=100M", bob: "*:storage=4K"})
	dc.fill(t, "bob", 4000)
	srv := mgtest.Start(t, mgtest.Options{
		LocalDomain: lmtpDomain, Protocols: []string{"smtp"},
		Users:    map[string]string{alice: pass, bob: pass, carol: pass},
		Delivery: "  local:\n    lmtp: unix:" + dc.LMTPSocket + "\n",
	})
	msg := lmtpMsg("dovecot-lmtp")
	h, p := hostPort(srv.Addr["smtp"])
	run(t, t.TempDir(), msg, python, "-c", `import smtplib, sys
s = smtplib.SMTP(sys.argv[1], int(sys.argv[2]), timeout=30)
s.sendmail("sender@example.org", sys.argv[3:], sys.stdin.buffer.read())
s.quit()`, h, p, alice, bob, carol)

	srv.WaitLog("rcpt=" + alice + " route=lmtp result=delivered")
	line := srv.WaitLog("rcpt=" + bob + " route=lmtp result=deferred")
	if !strings.Contains(line, "code=452") || !strings.Contains(line, "status=4.2.2") {
		t.Errorf("bob's attempt: %s", line)
	}
	line = srv.WaitLog("rcpt=" + carol + " route=lmtp result=bounced")
	if !strings.Contains(line, "code=550") || !strings.Contains(line, "command=RCPT") {
		t.Errorf("carol's attempt: %s", line)
	}
	// The sender hears of carol at once, as for a remote 5xx (the report
	// itself waits in the queue: the sender's domain does not resolve).
	if line := srv.WaitLog(`msg="report queued"`); !strings.Contains(line, "action=failed") || !strings.Contains(line, "rcpts=1") {
		t.Errorf("report: %s", line)
	}
	got := dc.readIMAP(t, alice)
	if len(got) != 1 {
		t.Fatalf("alice has %d messages at Dovecot, want 1", len(got))
	}
	checkDelivered(t, "alice at Dovecot", got[0], msg)
	if !strings.Contains(string(got[0]), "by localhost (mailgate) with ESMTP id ") {
		t.Errorf("no mailgate Received field:\n%.500s", got[0])
	}
}

// waitFor polls cond on a short ticker up to mgtest.Timeout; on timeout
// the test fails with cond's last message.
func waitFor(t *testing.T, cond func() (bool, string)) {
	t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(mgtest.Timeout)
	for {
		ok, why := cond()
		if ok {
			return
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatal(why)
		}
	}
}
