package e2e

import (
	"bufio"
	"crypto/tls"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"mailgate/internal/dnstest"
	"mailgate/internal/mgtest"
)

const fail2banFilter = "../deploy/fail2ban/filter.d/mailgate.conf"

// failAuth makes one SMTP AUTH failure on submission with user.
func failAuth(t *testing.T, srv *mgtest.Server, user string) {
	t.Helper()
	c, err := smtp.DialStartTLS(srv.Addr["submission"], srv.ClientTLS())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Auth(sasl.NewPlainClient("", user, "wrong")); err == nil {
		t.Fatal("AUTH with a wrong password succeeded")
	}
}

// failPOP3 makes one POP3 login failure, after STLS as a client would.
func failPOP3(t *testing.T, srv *mgtest.Server) {
	t.Helper()
	raw, err := net.Dial("tcp", srv.Addr["pop3"])
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var c net.Conn = raw
	r := bufio.NewReader(c)
	say := func(cmd string) string {
		t.Helper()
		if cmd != "" {
			c.Write([]byte(cmd + "\r\n"))
		}
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("POP3 %q: %v", cmd, err)
		}
		return line
	}
	say("") // greeting
	if line := say("STLS"); !strings.HasPrefix(line, "+OK") {
		t.Fatalf("STLS: %q", line)
	}
	c = tls.Client(raw, srv.ClientTLS())
	r = bufio.NewReader(c)
	say("USER alice@localhost")
	if line := say("PASS wrong"); !strings.HasPrefix(line, "-ERR") {
		t.Fatalf("PASS wrong: %q", line)
	}
	say("QUIT")
}

// failIMAP makes one IMAP login failure, after STARTTLS.
func failIMAP(t *testing.T, srv *mgtest.Server) {
	t.Helper()
	raw, err := net.Dial("tcp", srv.Addr["imap"])
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var c net.Conn = raw
	r := bufio.NewReader(c)
	// say sends cmd and reads up to the tagged reply.
	say := func(tag, cmd string) string {
		t.Helper()
		c.Write([]byte(tag + " " + cmd + "\r\n"))
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("IMAP %q: %v", cmd, err)
			}
			if strings.HasPrefix(line, tag+" ") {
				return line
			}
		}
	}
	if _, err := r.ReadString('\n'); err != nil { // greeting
		t.Fatal(err)
	}
	if line := say("a1", "STARTTLS"); !strings.HasPrefix(line, "a1 OK") {
		t.Fatalf("STARTTLS: %q", line)
	}
	c = tls.Client(raw, srv.ClientTLS())
	r = bufio.NewReader(c)
	if line := say("a2", "LOGIN alice@localhost wrong"); !strings.HasPrefix(line, "a2 NO") {
		t.Fatalf("LOGIN with a wrong password: %q", line)
	}
	say("a3", "LOGOUT")
}

// failregexes reads the filter's failregex lines as Go regexps, <ADDR>
// and <HOST> becoming a group named addr.
func failregexes(t *testing.T) []*regexp.Regexp {
	t.Helper()
	data, err := os.ReadFile(fail2banFilter)
	if err != nil {
		t.Fatal(err)
	}
	var out []*regexp.Regexp
	in := false
	for _, line := range strings.Split(string(data), "\n") {
		switch {
		case strings.HasPrefix(line, "failregex"):
			in = true
			line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(strings.TrimPrefix(line, "failregex")), "="))
		case in && strings.HasPrefix(line, " "):
			line = strings.TrimSpace(line)
		default:
			in = false
			continue
		}
		if line == "" {
			continue
		}
		expr := strings.NewReplacer("<ADDR>", `(?P<addr>[0-9A-Fa-f.:]+)`, "<HOST>", `(?P<addr>[0-9A-Fa-f.:]+)`).Replace(line)
		out = append(out, regexp.MustCompile(expr))
	}
	if len(out) < 3 {
		t.Fatalf("only %d failregex lines in %s", len(out), fail2banFilter)
	}
	return out
}

// bannedAddr returns the address fail2ban would take from line, if any.
func bannedAddr(res []*regexp.Regexp, line string) (string, bool) {
	for _, re := range res {
		if m := re.FindStringSubmatch(line); m != nil {
			return m[re.SubexpIndex("addr")], true
		}
	}
	return "", false
}

// TestOpsFail2banFilterMatchesAuthFailures: the shipped fail2ban filter
// finds the client address in the real SMTP AUTH and POP3 login failure
// lines (and IMAP's), is not fooled by a user name that carries "client=6.6.6.6", and
// matches no other line of the run. fail2ban-regex, when installed,
// agrees (it is skipped without Debian's fail2ban).
func TestOpsFail2banFilterMatchesAuthFailures(t *testing.T) {
	t.Parallel()
	srv := opsServer(t, map[string]string{"alice@localhost": "pw"}, "auth:\n  delay: 1ms\n", "imap")
	failAuth(t, srv, "alice@localhost")
	failAuth(t, srv, `evil client=6.6.6.6 mechanism=PLAIN`)
	failPOP3(t, srv)
	failIMAP(t, srv)
	srv.WaitLog(`msg="pop3 login failed"`)
	srv.WaitLog(`msg="imap login failed"`)
	res := failregexes(t)
	matched := map[string]int{}
	var logLines []string
	for _, line := range strings.Split(srv.Logs(), "\n") {
		if !strings.HasPrefix(line, "time=") {
			continue
		}
		logLines = append(logLines, line)
		addr, ok := bannedAddr(res, line)
		failure := strings.Contains(line, `msg="auth failure"`) || strings.Contains(line, `msg="pop3 login failed"`) ||
			strings.Contains(line, `msg="imap login failed"`)
		switch {
		case failure && !ok:
			t.Errorf("filter misses the failure line\n%s", line)
		case !failure && ok:
			t.Errorf("filter matches a line that is no login failure\n%s", line)
		case ok && addr != "127.0.0.1":
			t.Errorf("filter takes address %q from\n%s", addr, line)
		case ok:
			matched[strings.SplitN(strings.SplitN(line, `msg="`, 2)[1], `"`, 2)[0]]++
		}
	}
	if matched["auth failure"] != 2 || matched["pop3 login failed"] != 1 || matched["imap login failed"] != 1 {
		t.Errorf("matched %v, want 2 auth failure, 1 pop3 and 1 imap login failed", matched)
	}
	t.Run("fail2ban-regex", func(t *testing.T) {
		// Optional in CI until .ci/run installs Debian's fail2ban: the Go
		// check above already runs the filter's own expressions.
		f2b, err := exec.LookPath("fail2ban-regex")
		if err != nil {
			t.Skip("fail2ban-regex is not installed (Debian package fail2ban)")
		}
		logFile := filepath.Join(t.TempDir(), "mailgate.log")
		os.WriteFile(logFile, []byte(strings.Join(logLines, "\n")+"\n"), 0o600)
		abs, _ := filepath.Abs(fail2banFilter)
		out, err := exec.Command(f2b, logFile, abs).CombinedOutput()
		if err != nil {
			t.Fatalf("fail2ban-regex: %v\n%s", err, out)
		}
		if !regexp.MustCompile(`Lines: \d+ lines, 0 ignored, 4 matched`).Match(out) {
			t.Errorf("fail2ban-regex did not match exactly the 4 failure lines:\n%s", out)
		}
	})
}

// TestOpsFail2banJail: fail2ban's own configuration test accepts the
// example jail and the filter, added to Debian's stock configuration
// (its default sshd jail turned off: there is no sshd log here).
func TestOpsFail2banJail(t *testing.T) {
	t.Parallel()
	client, err := exec.LookPath("fail2ban-client")
	if err != nil {
		t.Skip("fail2ban-client is not installed (Debian package fail2ban)")
	}
	dir := filepath.Join(t.TempDir(), "fail2ban")
	if out, err := exec.Command("cp", "-r", "/etc/fail2ban", dir).CombinedOutput(); err != nil {
		t.Skipf("no stock fail2ban configuration to extend: %v %s", err, out)
	}
	files := map[string]string{
		"filter.d/mailgate.conf":      fail2banFilter,
		"jail.d/mailgate.conf":        "../deploy/fail2ban/jail.d/mailgate.conf",
		"jail.d/defaults-debian.conf": "",
	}
	for dst, src := range files {
		data := []byte("[sshd]\nenabled = false\n")
		if src != "" {
			if data, err = os.ReadFile(src); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, dst), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.Command(client, "-c", dir, "-t").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "OK: configuration test is successful") {
		t.Errorf("fail2ban-client -t: %v\n%s", err, out)
	}
}

// TestOpsQueueIDTellsTheWholeStory: a message to a domain with a null MX
// bounces at once. Its queue ID from the 250 reply is in the Received
// header, the relay's accepted line, the queue's lines, the delivery
// attempt line and the bounce that reaches the sender's mailbox, so
// `grep ID` tells what happened.
func TestOpsQueueIDTellsTheWholeStory(t *testing.T) {
	t.Parallel()
	dns := dnstest.Start(t, "nullmx.example. 300 IN MX 0 .")
	srv := opsServer(t, map[string]string{"alice@localhost": "pw"}, "delivery:\n  dns: "+dns.Addr+"\n")
	body := []byte("From: alice@localhost\r\nTo: bob@nullmx.example\r\nSubject: story\r\n\r\nhi\r\n")
	id := submit(t, srv, "alice@localhost", "pw", "alice@localhost", "bob@nullmx.example", body)
	srv.WaitLog("msg=\"report queued\" msgid=" + id)
	var report string
	for _, l := range strings.Split(srv.Logs(), "\n") {
		if m := regexp.MustCompile(`msg="report queued" msgid=` + id + ` .*report_id=(\S+)`).FindStringSubmatch(l); m != nil {
			report = m[1]
		}
	}
	srv.WaitLog("msg=delivered msgid=" + report)
	want := []string{
		`msg=accepted session=`,              // relay
		`msg=queued msgid=` + id,             // queue
		`msg="delivery attempt" msgid=` + id, // delivery
		`msg=bounced msgid=` + id,            // queue
		`msg="report queued" msgid=` + id,    // queue: the DSN, with its own ID
	}
	logs := srv.Logs()
	for _, w := range want {
		found := false
		for _, l := range strings.Split(logs, "\n") {
			if strings.Contains(l, w) && strings.Contains(l, id) {
				found = true
			}
		}
		if !found {
			t.Errorf("no log line with %q and %s", w, id)
		}
	}
	bounce, _ := findMessage(t, srv, report)
	if !strings.Contains(string(bounce), "id "+id) {
		t.Errorf("the bounce does not carry the original's Received header with id %s:\n%s", id, bounce)
	}
}
