package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"mailgate/internal/dnstest"
	"mailgate/internal/mgtest"
	"mailgate/internal/smtptest"
	"mailgate/internal/testenv"
)

// sieveScript files reports flagged, forwards, and answers once a week.
const sieveScript = `require ["fileinto", "imap4flags", "vacation", "mailbox"];
if header :contains "subject" "report" {
  addflag "\\Flagged";
  fileinto :create "Reports";
}
if header :contains "subject" "forward" {
  redirect "carol@remote.test";
}
vacation :days 7 :subject "Away" "I am away until Monday.";
`

// sendPy sends one message over STARTTLS with Python's smtplib:
// argv = host port cafile from to subject.
const sendPy = `import smtplib, ssl, sys
host, port, cafile, frm, to, subject = sys.argv[1:7]
ctx = ssl.create_default_context(cafile=cafile)
ctx.check_hostname = False
msg = "From: %s\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%s@remote.test>\r\n\r\nHello.\r\n" % (frm, to, subject, subject.replace(" ", "."))
with smtplib.SMTP(host, int(port)) as s:
    s.starttls(context=ctx)
    s.sendmail(frm, [to], msg)
print("sent")
`

// imapPy prints "FOLDER FLAGS" for every message of INBOX and Reports,
// read over IMAP STARTTLS as a mail client would: argv = host port cafile
// user password.
const imapPy = `import imaplib, ssl, sys
host, port, cafile, user, pw = sys.argv[1:6]
ctx = ssl.create_default_context(cafile=cafile)
ctx.check_hostname = False
m = imaplib.IMAP4(host, int(port))
m.starttls(ssl_context=ctx)
m.login(user, pw)
for box in ("INBOX", "Reports"):
    typ, _ = m.select(box, readonly=True)
    if typ != "OK":
        print(box, "missing")
        continue
    typ, data = m.fetch("1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    for item in data:
        if isinstance(item, tuple):
            subj = item[1].decode().strip().replace("Subject: ", "")
            flags = item[0].decode().split("FLAGS (")[1].split(")")[0]
            print(box, "|", subj, "|", flags)
m.logout()
`

// TestSieveManageSieveAndDelivery is issue 17's promise end to end: a
// user uploads a script with sieve-connect over STARTTLS (a broken one
// is refused with line and column), and the next messages to port 25
// are filed and flagged (seen over IMAP), forwarded to a remote MX, and
// answered by vacation exactly once, even after a restart.
func TestSieveManageSieveAndDelivery(t *testing.T) {
	t.Parallel()
	sc := testenv.Tool(t, "sieve-connect")
	python := testenv.Tool(t, "python3")
	remote := smtptest.Start(t, smtptest.Config{})
	dns := dnstest.Start(t, "remote.test. 60 IN MX 10 mx.remote.test.", "mx.remote.test. 60 IN A 127.0.0.1")
	srv := mgtest.Start(t, mgtest.Options{
		Protocols: []string{"smtp", "managesieve", "imap", "http"},
		DNS:       dns.Addr, Delivery: fmt.Sprintf("  port: %d\n", remote.Port()),
		Users: map[string]string{"alice@localhost": "alice pw"},
	})
	cafile := filepath.Join(srv.DataDir, "tls", "selfsigned.crt")
	write := func(name, text string) string {
		p := filepath.Join(srv.Dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	sieveConnect := func(args ...string) (string, error) {
		host, port, _ := strings.Cut(srv.Addr["managesieve"], ":")
		base := []string{"-s", host, "-p", port, "-u", "alice@localhost", "--passwordfd", "0",
			"--tlscafile", cafile, "--tlshostname", "localhost"}
		cmd := exec.Command(sc, append(base, args...)...)
		cmd.Stdin = strings.NewReader("alice pw\n")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	broken := write("broken.sieve", "require \"fileinto\";\nif true {\n  fileinto \"x\"\n}\n")
	out, err := sieveConnect("--upload", "--localsieve", broken, "--remotesieve", "broken")
	if err == nil || !strings.Contains(out, "line 4, column 1: expected ; or { after fileinto") {
		t.Fatalf("broken script: err %v, want a refusal with line and column:\n%s", err, out)
	}
	good := write("good.sieve", sieveScript)
	if out, err := sieveConnect("--upload", "--localsieve", good, "--remotesieve", "main"); err != nil {
		t.Fatalf("upload: %v\n%s", err, out)
	}
	if out, err := sieveConnect("--activate", "--remotesieve", "main"); err != nil {
		t.Fatalf("activate: %v\n%s", err, out)
	}
	if out, err := sieveConnect("--list"); err != nil || strings.TrimSpace(out) != `"main" ACTIVE` {
		t.Fatalf("list: %v\n%s", err, out)
	}

	sendPath := write("send.py", sendPy)
	send := func(subject string) {
		t.Helper()
		host, port, _ := strings.Cut(srv.Addr["smtp"], ":")
		out, err := exec.Command(python, sendPath, host, port, cafile, "bob@remote.test", "alice@localhost", subject).CombinedOutput()
		if err != nil || string(out) != "sent\n" {
			t.Fatalf("send %q: %v\n%s", subject, err, out)
		}
	}
	send("weekly report")
	srv.WaitLog("msg=\"sieve vacation sent\"")
	send("please forward this")
	srv.WaitLog("msg=\"sieve redirected\"")
	got := remote.WaitMessages(t, 2, mgtest.Timeout)
	checkRemote(t, got)

	// After a restart the vacation record still holds: no second reply.
	srv.Stop()
	srv.Restart()
	send("one more")
	srv.WaitLog("reason=already_answered") // the log of the new process
	if n := len(remote.Messages()); n != 2 {
		t.Errorf("remote got %d messages after the restart, want still 2 (vacation once)", n)
	}

	host, port, _ := strings.Cut(srv.Addr["imap"], ":")
	out2, err := exec.Command(python, write("imap.py", imapPy), host, port, cafile, "alice@localhost", "alice pw").CombinedOutput()
	if err != nil {
		t.Fatalf("imap: %v\n%s", err, out2)
	}
	want := "INBOX | one more | \\Recent\nReports | weekly report | \\Flagged \\Recent\n"
	if !strings.Contains(string(out2), "Reports | weekly report | \\Flagged") || strings.Contains(string(out2), "forward") ||
		!strings.Contains(string(out2), "INBOX | one more") {
		t.Errorf("IMAP sees:\n%s\nwant something like:\n%s", out2, want)
	}

	m := scrapeMetrics(t, srv)
	for _, c := range []struct {
		name, label, value string
		want               float64
	}{
		{"mailgate_sieve_scripts_run_total", "result", "ok", 1},
		{"mailgate_sieve_actions_total", "action", "keep", 1},
		{"mailgate_sieve_vacation_total", "result", "already_answered", 1},
	} {
		if v, ok := m.value(c.name, c.label, c.value); !ok || v != c.want {
			t.Errorf("%s{%s=%q} = %v (present %v), want %v", c.name, c.label, c.value, v, ok, c.want)
		}
	}
}

// checkRemote finds the vacation reply to bob and the forward to carol
// among what the remote MX received.
func checkRemote(t *testing.T, got []smtptest.Message) {
	t.Helper()
	var reply, forward *smtptest.Message
	for i := range got {
		switch {
		case len(got[i].Rcpts) == 1 && got[i].Rcpts[0] == "bob@remote.test":
			reply = &got[i]
		case len(got[i].Rcpts) == 1 && got[i].Rcpts[0] == "carol@remote.test":
			forward = &got[i]
		}
	}
	if reply == nil || forward == nil {
		t.Fatalf("remote got %+v, want a vacation reply to bob and a forward to carol", got)
	}
	r := string(reply.Raw)
	for _, want := range []string{"Auto-Submitted: auto-replied", "Subject: Away", "In-Reply-To: <weekly.report@remote.test>", "I am away until Monday."} {
		if !strings.Contains(r, want) {
			t.Errorf("vacation reply lacks %q:\n%s", want, r)
		}
	}
	if reply.From != "" {
		t.Errorf("vacation reply sent from <%s>, want <>", reply.From)
	}
	if f := string(forward.Raw); !strings.Contains(f, "Subject: please forward this") || forward.From != "alice@localhost" {
		t.Errorf("forward from <%s>:\n%s", forward.From, f)
	}
}

// TestSieveCLI: `mailgate sieve check` names the line and column of a
// mistake; `mailgate sieve test` prints what a message would get.
func TestSieveCLI(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("good.sieve", sieveScript)
	write("bad.sieve", "require \"fileinto\";\nif true {\n  fileinto \"x\"\n}\n")
	write("msg.eml", "From: bob@remote.test\r\nTo: alice@localhost\r\nSubject: weekly report\r\n\r\nhi\r\n")
	if out, code := mgtest.Run(t, dir, "", "sieve", "check", "good.sieve"); code != 0 || out != "good.sieve: ok\n" {
		t.Errorf("check good: exit %d: %q", code, out)
	}
	if out, code := mgtest.Run(t, dir, "", "sieve", "check", "bad.sieve"); code != 1 ||
		out != "bad.sieve:4:1: expected ; or { after fileinto, found \"}\"\n" {
		t.Errorf("check bad: exit %d: %q", code, out)
	}
	out, code := mgtest.Run(t, dir, "", "sieve", "test", "good.sieve", "msg.eml", "--from", "bob@remote.test", "--to", "alice@localhost")
	want := "fileinto \"Reports\" :create flags \\Flagged\n" +
		"vacation once per 168h0m0s per sender, subject \"Away\": \"I am away until Monday.\"\n"
	if code != 0 || out != want {
		t.Errorf("test: exit %d:\n%s\nwant:\n%s", code, out, want)
	}
	if _, code := mgtest.Run(t, dir, "", "sieve", "test", "good.sieve"); code != 2 {
		t.Errorf("test without a message: exit %d, want 2 (usage)", code)
	}
}
