package e2e

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mailgate/internal/mgtest"
	"mailgate/internal/testenv"
)

// revokePy holds open sessions of one account with Python's imaplib
// and poplib over implicit TLS (argv = host imaps-port pop3s-port cafile
// user password) and prints what each sees once the test disables the
// account: a session in IDLE (sent by hand: imaplib has idle() only from
// Python 3.14), a session waiting between commands, and a POP3 session
// that marked a message deleted before. It waits for a line on stdin
// where the test changes the account.
const revokePy = `import imaplib, poplib, ssl, sys, time
host, imaps, pop3s, cafile, user, pw = sys.argv[1:7]
ctx = ssl.create_default_context(cafile=cafile)
ctx.check_hostname = False
def say(*a): print(*a, flush=True)
def wait(step):
    say("wait", step)
    sys.stdin.readline()
def imap():
    m = imaplib.IMAP4_SSL(host, int(imaps), ssl_context=ctx, timeout=15)
    m.login(user, pw)
    return m
def bye(m):
    return b" ".join(m.untagged_responses.get("BYE", [b"none"])).decode()
def pop():
    p = poplib.POP3_SSL(host, int(pop3s), context=ctx, timeout=15)
    p.user(user)
    p.pass_(pw)
    return p

idler, other = imap(), imap()
for s in ("one", "two"):
    idler.append("INBOX", None, None, ("Subject: %s\r\n\r\n%s\r\n" % (s, s)).encode())
idler.select("INBOX")
other.select("INBOX")
p = pop()
say("pop3 dele", p.dele(1).decode())
idler.send(idler._new_tag() + b" IDLE\r\n")
say("idle", idler.readline().decode().strip())
wait("disable")
start = time.monotonic()
say("idle got", idler.readline().decode().strip())
say("idle then", repr(idler.readline()))
say("idle within 5s", time.monotonic() - start < 5)
try:
    other.noop()
    say("noop answered")
except imaplib.IMAP4.abort:
    say("noop bye", bye(other))
try:
    p.stat()
    say("pop3 stat answered")
except poplib.error_proto as e:
    say("pop3 stat", e.args[0].decode())
try:
    p.noop()
    say("pop3 still open")
except (poplib.error_proto, OSError):
    say("pop3 closed")
wait("enable")
p = pop()
say("pop3 after", p.stat()[0])
p.quit()
m = imap()
wait("delete")
try:
    m.noop()
    say("noop answered")
except imaplib.IMAP4.abort:
    say("noop after del bye", bye(m))
`

// TestOpenMailSessionsEndWhenAccountDisabled: an account disabled in
// accounts.yaml (as an editor would) or removed with mailgate user del
// loses its open IMAP and POP3 sessions through the real binary and
// Python's own clients: IMAPS in IDLE gets * BYE [EXPIRED] within
// mailbox.imap_session_recheck and the connection closes, a waiting
// session gets it at its next command, and POP3S answers the next
// command -ERR [AUTH] and closes without committing the DELE it had.
func TestOpenMailSessionsEndWhenAccountDisabled(t *testing.T) {
	t.Parallel()
	python := testenv.Tool(t, "python3")
	const user, pw = "phone@localhost", "phone-password-1"
	srv := mgtest.Start(t, mgtest.Options{
		Protocols: []string{"imaps", "pop3s"},
		Users:     map[string]string{user: pw},
		Config:    "mailbox:\n  imap_session_recheck: 1s\n",
	})
	host, imaps, _ := strings.Cut(srv.Addr["imaps"], ":")
	_, pop3s, _ := strings.Cut(srv.Addr["pop3s"], ":")
	py := startPython(t, python, revokePy, host, imaps, pop3s, filepath.Join(srv.DataDir, "tls", "selfsigned.crt"), user, pw)
	const expired = "[EXPIRED] Access to this account has ended (disabled or removed)"
	py.expect("pop3 dele +OK message 1 deleted", "idle + idling", "wait disable")
	enable := disableInFile(t, srv, user)
	py.send("")
	py.expect("idle got * BYE "+expired, "idle then b''", "idle within 5s True",
		"noop bye "+expired,
		"pop3 stat -ERR [AUTH] Access to this account has ended (disabled or removed)",
		"pop3 closed", "wait enable")
	enable()
	py.send("")
	py.expect("pop3 after 2", "wait delete") // DELE 1 was not committed
	if out, code := srv.Run("", "user", "del", user, "-config", srv.ConfigPath); code != 0 {
		t.Fatalf("user del: exit %d: %s", code, out)
	}
	py.send("")
	py.expect("noop after del bye " + expired)
	py.done()
	srv.WaitLog("imap session ended: account disabled or removed")
	srv.WaitLog("pop3 session ended: account disabled or removed")
}

// pyProc is a Python script the test talks to line by line.
type pyProc struct {
	t     *testing.T
	cmd   *exec.Cmd
	in    io.WriteCloser
	lines chan string
}

// startPython runs script with args; its stdout lines arrive on lines,
// stderr is shown when the test fails.
func startPython(t *testing.T, python, script string, args ...string) *pyProc {
	t.Helper()
	path := filepath.Join(t.TempDir(), "client.py")
	if err := os.WriteFile(path, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(python, append([]string{path}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &pyProc{t: t, cmd: cmd, in: in, lines: make(chan string, 64)}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("python stderr:\n%s", stderr.String())
		}
	})
	return p
}

func (p *pyProc) send(line string) {
	p.t.Helper()
	if _, err := io.WriteString(p.in, line+"\n"); err != nil {
		p.t.Fatal(err)
	}
}

// expect checks the next lines, each within mgtest.Timeout.
func (p *pyProc) expect(want ...string) {
	p.t.Helper()
	for _, w := range want {
		select {
		case got, ok := <-p.lines:
			if !ok {
				p.t.Fatalf("python ended; want %q", w)
			}
			if got != w {
				p.t.Fatalf("python said %q, want %q", got, w)
			}
		case <-time.After(mgtest.Timeout):
			p.t.Fatalf("python said nothing for %v; want %q", mgtest.Timeout, w)
		}
	}
}

// done checks that the script ended without error or more output.
func (p *pyProc) done() {
	p.t.Helper()
	p.in.Close()
	for l := range p.lines {
		p.t.Errorf("python said more: %q", l)
	}
	if err := p.cmd.Wait(); err != nil {
		p.t.Errorf("python: %v", err)
	}
}
