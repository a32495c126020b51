package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-milter"

	"mailgate/internal/dnstest"
	"mailgate/internal/mgtest"
	"mailgate/internal/smtptest"
	"mailgate/internal/testenv"
)

// The promise suite's installation: the local domain mg.test, whose
// application account app@mg.test may also send as anyone at
// @news.example and as noreply@brand.example; bob@mg.test is a mailbox
// the suite reads; remote.example is a remote domain whose MX is a sink
// in the test.
const (
	pDomain   = "mg.test"
	pApp      = "app@mg.test"
	pBob      = "bob@mg.test"
	pPassword = "app password 1"
	pRemote   = "carol@remote.example"
	pGone     = "gone@remote.example"
)

// promiseEnv is one running mailgate with its DNS, remote sink and milter.
type promiseEnv struct {
	srv      *mgtest.Server
	sink     *smtptest.Server
	milter   *promiseMilter
	python   string
	swaksBin string
	dns      string // the DNS server's host:port
	script   string // the smtplib driver
}

// promiseZone is what the suite's DNS server answers. mg.test refuses
// everything by SPF and DMARC, so a message from a logged-in account is
// accepted only because logged-in sessions are not checked.
func promiseZone(t *testing.T, dkimKeys string) []string {
	return []string{
		"remote.example. 300 IN MX 10 sink.test.",
		"sink.test. 300 IN A 127.0.0.1",
		`mg.test. 300 IN TXT "v=spf1 -all"`,
		`_dmarc.mg.test. 300 IN TXT "v=DMARC1; p=reject"`,
		`spf-fail.example. 300 IN TXT "v=spf1 -all"`,
		`spf-perm.example. 300 IN TXT "v=spf1 frobnicate:x -all"`,
		`_dmarc.dmarc-reject.example. 300 IN TXT "v=DMARC1; p=reject"`,
		// bl.mg.test, the dnsbl filter's list, lists 127.0.0.50.
		"50.0.0.127.bl.mg.test. 300 IN A 127.0.0.2",
		`50.0.0.127.bl.mg.test. 300 IN TXT "Listed for the promise suite"`,
		dkimKeys,
	}
}

// startPromiseEnv starts mailgate with the filters a production gateway
// runs (mailgate.example.yaml), DNS on loopback, a remote sink and a
// milter; ratelimit is the filters.ratelimit block ("" for the defaults).
func startPromiseEnv(t *testing.T, ratelimit string) *promiseEnv {
	t.Helper()
	e := &promiseEnv{python: testenv.Tool(t, "python3"), swaksBin: testenv.Tool(t, "swaks")}
	keyDir := t.TempDir()
	var txt []string
	for _, k := range [][2]string{{pDomain, "s1"}, {"signer.example", "t1"}} {
		out, code := mgtest.Run(t, keyDir, "", "dkim", "keygen", k[0], "--selector", k[1], "--algorithm", "ed25519", "--out", keyDir)
		if code != 0 {
			t.Fatalf("dkim keygen: %s", out)
		}
		txt = append(txt, regexp.MustCompile(`(?m)^`+k[1]+`\._domainkey\..*$`).FindString(out))
	}
	dns := dnstest.Start(t, append(promiseZone(t, txt[0]), txt[1])...)
	dns.ServFail("spf-temp.example")
	e.dns = dns.Addr
	// gone@remote.example does not exist: a hard bounce at RCPT.
	e.sink = smtptest.Start(t, smtptest.Config{RcptReplies: map[string][]string{pGone: {"550 5.1.1 <gone@remote.example>: no such user"}}})
	e.milter = startPromiseMilter(t)
	e.srv = mgtest.Start(t, mgtest.Options{
		LocalDomain: pDomain, DNS: dns.Addr, Protocols: []string{"smtp", "submission", "submissions", "http", "api", "imap"},
		Users: pUsers,
	})
	if code := e.srv.Stop(); code != 0 {
		t.Fatalf("first stop: exit %d", code)
	}
	e.user("update", pApp, "--alias", "billing@mg.test", "--send-as", "@news.example", "--send-as", "noreply@brand.example")
	e.user("update", "own@mg.test", "--rate-limit", "2/1h")
	e.user("update", pFull, "--quota", "100")
	e.user("update", pSmall, "--quota", "300")
	e.fillMailbox(t, pFull)
	e.writeConfig(t, dns.Addr, filepath.Join(keyDir, pDomain+".s1.pem"), ratelimit)
	e.srv.Restart()
	e.script = filepath.Join(t.TempDir(), "smtp_driver.py")
	if err := os.WriteFile(e.script, []byte(smtpDriver), 0o600); err != nil {
		t.Fatal(err)
	}
	return e
}

// user runs `mailgate user ARGS -config FILE`.
func (e *promiseEnv) user(args ...string) {
	e.srv.Run("", append(append([]string{"user"}, args...), "-config", e.srv.ConfigPath)...)
}

// pUsers are the accounts and their passwords. capped@mg.test gets a
// small limit in the config of the rate-limit tests, own@mg.test one of
// its own in accounts.yaml.
var pUsers = map[string]string{pApp: pPassword, pBob: "bob password", "capped@mg.test": "capped password", "own@mg.test": "own password",
	pFull: "full password", pSmall: "small password"}

// pFull's mailbox holds more than its quota of 100 bytes before the suite
// starts; pSmall's quota (300 bytes) is smaller than any message.
const (
	pFull  = "full@mg.test"
	pSmall = "small@mg.test"
)

// fillMailbox puts a message of 500 bytes in addr's Maildir while the
// server is stopped, as another program sharing the Maildir would.
func (e *promiseEnv) fillMailbox(t *testing.T, addr string) {
	t.Helper()
	dir := filepath.Join(e.srv.MailDir(), addr)
	for _, sub := range []string{"new", "cur", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	msg := "From: seed@mg.test\r\nSubject: seed\r\n\r\n" + strings.Repeat("x", 456) + "\r\n"
	if err := os.WriteFile(filepath.Join(dir, "new", "1764950400.seed.mg"), []byte(msg), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (e *promiseEnv) writeConfig(t *testing.T, dnsAddr, key, ratelimit string) {
	t.Helper()
	s := e.srv
	submit := "[ratelimit, spf, dkim_verify, dmarc, sender_policy, milter, dkim_sign]"
	cfg := fmt.Sprintf(`hostname: %s
data_dir: %s
local_domains: [%s]
limits:
  max_message_size: 64KB
auth:
  delay: 20ms
listeners:
  - {name: mx, protocol: smtp, address: "%s", filters: [dnsbl, ratelimit, spf, dkim_verify, dmarc, milter]}
  - {name: submission, protocol: submission, address: "%s", filters: %s}
  - {name: submissions, protocol: submissions, address: "%s", filters: %s}
  - {name: http, protocol: http, address: "%s"}
  - {name: api, protocol: api, address: "%s"}
  - {name: imap, protocol: imap, address: "%s"}
delivery:
  dns: %s
  port: %d
filters:
  dnsbl:
    lists: [{zone: bl.mg.test}]
  spf:
    actions: {permerror: reject}
  dkim_verify:
    actions: {fail: reject}
  milter:
    address: "%s"
  dkim_sign:
    keys: [{domain: %s, selector: s1, file: %s}]
  ratelimit: {%s}
`, s.Hostname, s.DataDir, pDomain, s.Addr["smtp"], s.Addr["submission"], submit, s.Addr["submissions"], submit,
		s.Addr["http"], s.Addr["api"], s.Addr["imap"], dnsAddr, e.sink.Port(), e.milter.addr, pDomain, key, ratelimit)
	if err := os.WriteFile(s.ConfigPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
}

// conversation is what one client does: connect (from src, "" for
// 127.0.0.1) to a listener, log in when user is set, and run steps.
type conversation struct {
	Mode     string     `json:"mode"` // starttls, implicit, plain
	Port     string     `json:"port"`
	Src      string     `json:"src,omitempty"`
	User     string     `json:"user,omitempty"`
	Password string     `json:"password,omitempty"`
	Steps    [][]string `json:"steps"`
	Messages int        `json:"messages,omitempty"` // run steps this many times
	Repeat   int        `json:"repeat,omitempty"`   // connections, one after the other
	CA       string     `json:"ca"`
}

// smtplib runs a conversation with Python's smtplib and returns the reply
// line to each step ("(closed)" when the server hung up).
func (e *promiseEnv) smtplib(t *testing.T, c conversation) []string {
	t.Helper()
	c.CA = filepath.Join(e.srv.DataDir, "tls", "selfsigned.crt")
	spec, _ := json.Marshal(c)
	out, err := exec.Command(e.python, e.script, string(spec)).CombinedOutput()
	if err != nil {
		t.Fatalf("smtplib driver: %v\n%s", err, out)
	}
	var lines []string
	if err := json.Unmarshal(out, &lines); err != nil {
		t.Fatalf("smtplib driver output: %v\n%s", err, out)
	}
	return lines
}

// swaksReplyRE finds swaks's lines for server replies: "<-  250 ..." in
// clear, "<~  250 ..." over TLS, "<** 553 ..." and "<~* 553 ..." for
// errors. Only last lines of replies (code, space) are taken.
var swaksReplyRE = regexp.MustCompile(`(?m)^<(?:-|~|\*\*|~\*) +(\d{3} .*)$`)

// runSwaks sends one message logged in as user and returns the last reply
// line swaks printed.
func (e *promiseEnv) runSwaks(t *testing.T, mode, user, password, from string, to []string, msg string) string {
	t.Helper()
	flag, listener := "--tls", "submission"
	if mode == "implicit" {
		flag, listener = "--tlsc", "submissions"
	}
	host, port, _ := strings.Cut(e.srv.Addr[listener], ":")
	cmd := exec.Command(e.swaksBin, "--server", host, "--port", port, flag, "--ehlo", "client.example",
		"--auth", "PLAIN", "--auth-user", user, "--auth-password", password,
		"--from", from, "--to", strings.Join(to, ","), "--data", "-", "--timeout", "30")
	cmd.Stdin = strings.NewReader(strings.TrimSuffix(msg, "\r\n"))
	out, _ := cmd.CombinedOutput() // swaks exits non-zero on a refusal
	var last string
	for _, m := range swaksReplyRE.FindAllStringSubmatch(string(out), -1) {
		if !strings.HasPrefix(m[1], "221 ") { // the reply to QUIT
			last = m[1]
		}
	}
	if last == "" {
		t.Fatalf("no reply lines in swaks output:\n%s", out)
	}
	return last
}

// arrived waits until n messages whose Subject holds marker are in bob's
// mailbox (where "bob") or at the remote sink (where "sink"), and returns
// one of them as stored.
func (e *promiseEnv) arrived(t *testing.T, where, marker string, n int) string {
	t.Helper()
	deadline := time.Now().Add(mgtest.Timeout)
	var found []string
	for time.Now().Before(deadline) {
		if found = e.findAll(where, marker); len(found) >= n {
			return found[0]
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%d of %d messages %q arrived at %s within %v", len(found), n, marker, where, mgtest.Timeout)
	return ""
}

// find returns one message with marker in where, "" if none.
func (e *promiseEnv) find(where, marker string) string {
	if all := e.findAll(where, marker); len(all) > 0 {
		return all[0]
	}
	return ""
}

// findAll looks once for the messages with marker: in bob's Maildir, at
// the sink, or in the spool ("spool").
func (e *promiseEnv) findAll(where, marker string) []string {
	needle := []byte("Subject: " + marker + "\r\n")
	var found []string
	if where == "sink" {
		for _, m := range e.sink.Messages() {
			if bytes.Contains(m.Raw, needle) {
				found = append(found, string(m.Raw))
			}
		}
		return found
	}
	dir := filepath.Join(e.srv.MailDir(), pBob)
	if where == "spool" {
		dir = e.srv.SpoolDir()
	}
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if data, err := os.ReadFile(path); err == nil && bytes.Contains(data, needle) {
			found = append(found, string(data))
		}
		return nil
	})
	return found
}

// promiseMilter is a milter in the test: it rejects, tempfails, answers
// with its own reply or fails according to a word in the Subject, and
// records the {auth_authen} macro of every message.
type promiseMilter struct {
	addr     string
	mu       sync.Mutex
	accounts map[string]string // Subject -> {auth_authen}
}

type milterSession struct {
	milter.NoOpMilter
	m       *promiseMilter
	account string
	subject string
}

func (s *milterSession) MailFrom(from string, m *milter.Modifier) (milter.Response, error) {
	s.account = m.Macros["{auth_authen}"]
	return milter.RespContinue, nil
}

func (s *milterSession) Header(name, value string, m *milter.Modifier) (milter.Response, error) {
	if strings.EqualFold(name, "Subject") {
		s.subject = strings.TrimSpace(value)
	}
	return milter.RespContinue, nil
}

func (s *milterSession) Body(m *milter.Modifier) (milter.Response, error) {
	s.m.mu.Lock()
	s.m.accounts[s.subject] = s.account
	s.m.mu.Unlock()
	switch {
	case strings.Contains(s.subject, "milter-reject"):
		return milter.RespReject, nil
	case strings.Contains(s.subject, "milter-tempfail"):
		return milter.RespTempFail, nil
	case strings.Contains(s.subject, "milter-gtube"):
		return milter.NewResponseStr('y', "554 5.7.1 Gtube pattern"), nil
	case strings.Contains(s.subject, "milter-crash"):
		return nil, fmt.Errorf("milter crashed")
	}
	return milter.RespAccept, nil
}

func startPromiseMilter(t *testing.T) *promiseMilter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pm := &promiseMilter{addr: ln.Addr().String(), accounts: map[string]string{}}
	srv := &milter.Server{NewMilter: func() milter.Milter { return &milterSession{m: pm} }}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return pm
}

// account returns the {auth_authen} the milter saw for subject.
func (pm *promiseMilter) account(subject string) (string, bool) {
	pm.mu.Lock()
	defer pm.mu.Unlock()
	a, ok := pm.accounts[subject]
	return a, ok
}

// smtpDriver runs a conversation (JSON in argv[1]) with smtplib and
// prints the reply line to every step as a JSON list. Steps: mail, rcpt,
// data (the message, sent as bytes as given), cmd (a raw command line)
// and raw (bytes as they are, then one reply). A refused mail, rcpt or
// data ends the connection's steps.
const smtpDriver = `import json, smtplib, ssl, sys
spec = json.loads(sys.argv[1])
ctx = ssl.create_default_context(cafile=spec["ca"])
ctx.check_hostname = False
out = []
def line(code, msg):
    if isinstance(msg, bytes):
        msg = msg.decode("utf-8", "replace")
    out.append("%d %s" % (code, msg.split("\n")[-1]))
def steps(s):
    for op, arg in spec["steps"]:
        try:
            if op == "mail": r = s.mail(arg)
            elif op == "rcpt": r = s.rcpt(arg)
            elif op == "data": r = s.data(arg.encode())
            elif op == "cmd": r = s.docmd(arg)
            elif op == "raw":
                s.send(arg.encode())
                r = s.getreply()
        except smtplib.SMTPResponseException as e:
            r = (e.smtp_code, e.smtp_error)
        line(*r)
        if op in ("mail", "rcpt", "data") and r[0] >= 400:
            s.rset()
            return
def conversation():
    src = (spec.get("src") or "127.0.0.1", 0)
    host, port = "127.0.0.1", int(spec["port"])
    try:
        if spec["mode"] == "implicit":
            s = smtplib.SMTP_SSL(host, port, local_hostname="client.example", source_address=src, context=ctx, timeout=30)
        else:
            s = smtplib.SMTP(host, port, local_hostname="client.example", source_address=src, timeout=30)
    except smtplib.SMTPConnectError as e:
        line(e.smtp_code, e.smtp_error)
        return
    try:
        s.ehlo()
        if spec["mode"] == "starttls":
            s.starttls(context=ctx)
            s.ehlo()
        if spec.get("user"):
            try:
                s.login(spec["user"], spec["password"])
            except smtplib.SMTPAuthenticationError as e:
                line(e.smtp_code, e.smtp_error)
                return
        for _ in range(spec.get("messages") or 1):
            steps(s)
        s.quit()
    except smtplib.SMTPServerDisconnected:
        out.append("(closed)")
for _ in range(spec.get("repeat") or 1):
    conversation()
print(json.dumps(out))
`
