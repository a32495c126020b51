package interop

import (
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"mailgate/internal/mgtest"
	"mailgate/internal/testenv"
)

// submitter sends msg from user to user through one listener with one
// real client, logging in, and fails the test if the client reports an
// error.
type submitter struct {
	name     string
	listener string // submission (STARTTLS) or submissions (implicit TLS)
	send     func(t *testing.T, srv *mgtest.Server, addr, msg string)
}

var submitters = []submitter{
	{"swaks-starttls", "submission", swaksSend("--tls", "PLAIN")},
	{"swaks-implicit", "submissions", swaksSend("--tlsc", "PLAIN")},
	{"swaks-login", "submission", swaksSend("--tls", "LOGIN")},
	{"msmtp-starttls", "submission", msmtpSend("on")},
	{"msmtp-implicit", "submissions", msmtpSend("off")},
	{"curl-starttls", "submission", curlSend("smtp")},
	{"curl-implicit", "submissions", curlSend("smtps")},
	{"smtplib-starttls", "submission", smtplibSend("starttls")},
	{"smtplib-implicit", "submissions", smtplibSend("implicit")},
}

func swaksSend(tlsFlag, mech string) func(*testing.T, *mgtest.Server, string, string) {
	return func(t *testing.T, srv *mgtest.Server, addr, msg string) {
		h, p := hostPort(addr)
		out := run(t, srv.Dir, strings.TrimSuffix(msg, "\r\n"), testenv.Tool(t, "swaks"),
			"--server", h, "--port", p, tlsFlag, "--auth", mech, "--auth-user", user, "--auth-password", pass,
			"--from", user, "--to", user, "--data", "-", "--timeout", "30")
		if !strings.Contains(out, "<~  250 2.0.0 OK: queued as ") {
			t.Errorf("swaks got no 250 for DATA:\n%s", out)
		}
	}
}

func msmtpSend(starttls string) func(*testing.T, *mgtest.Server, string, string) {
	return func(t *testing.T, srv *mgtest.Server, addr, msg string) {
		h, p := hostPort(addr)
		rc := writeFile(t, t.TempDir(), "msmtprc", "account default\nhost "+h+"\nport "+p+
			"\ntls on\ntls_starttls "+starttls+"\ntls_trust_file "+filepath.Join(srv.DataDir, "tls", "selfsigned.crt")+
			"\ntls_host_override localhost\nauth plain\nuser "+user+"\npassword "+pass+"\nfrom "+user+"\n")
		run(t, srv.Dir, msg, testenv.Tool(t, "msmtp"), "-C", rc, user)
	}
}

func curlSend(scheme string) func(*testing.T, *mgtest.Server, string, string) {
	return func(t *testing.T, srv *mgtest.Server, addr, msg string) {
		args := []string{"-sS", "-k", "--mail-from", user, "--mail-rcpt", user, "--user", user + ":" + pass, "-T", "-", scheme + "://" + addr}
		if scheme == "smtp" {
			args = append([]string{"--ssl-reqd"}, args...)
		}
		run(t, srv.Dir, msg, testenv.Tool(t, "curl"), args...)
	}
}

// smtplibScript sends stdin's bytes with smtplib.sendmail, verifying the
// server's certificate against mailgate's self-signed one.
const smtplibScript = `import smtplib, ssl, sys
mode, host, port, cafile, user, password = sys.argv[1:]
ctx = ssl.create_default_context(cafile=cafile)
ctx.check_hostname = False
data = sys.stdin.buffer.read()
if mode == "starttls":
    s = smtplib.SMTP(host, int(port), timeout=30)
    s.starttls(context=ctx)
else:
    s = smtplib.SMTP_SSL(host, int(port), context=ctx, timeout=30)
s.login(user, password)
refused = s.sendmail(user, [user], data)
code, resp = s.noop()
s.quit()
print("refused=%r" % refused)
`

func smtplibSend(mode string) func(*testing.T, *mgtest.Server, string, string) {
	return func(t *testing.T, srv *mgtest.Server, addr, msg string) {
		h, p := hostPort(addr)
		script := writeFile(t, t.TempDir(), "send.py", smtplibScript)
		out := run(t, srv.Dir, msg, testenv.Tool(t, "python3"), script, mode, h, p,
			filepath.Join(srv.DataDir, "tls", "selfsigned.crt"), user, pass)
		if strings.TrimSpace(out) != "refused={}" {
			t.Errorf("smtplib: %s", out)
		}
	}
}

// TestSubmitThenRead submits one message with each real client, in both
// TLS modes, then reads the mailbox with each real reader; every reader
// must see every message byte for byte (after mailgate's trace headers).
func TestSubmitThenRead(t *testing.T) {
	t.Parallel()
	srv := startFull(t, mgtest.Options{})
	sent := map[string]string{} // subject tag -> message
	for _, s := range submitters {
		msg := testMessage(s.name)
		s.send(t, srv, srv.Addr[s.listener], msg)
		sent[s.name] = msg
	}
	if t.Failed() {
		return
	}
	waitDelivered(t, srv, len(sent))
	for _, r := range readers {
		t.Run(r.name, func(t *testing.T) {
			got := r.read(t, srv)
			checkAll(t, r.name, got, sent)
		})
	}
}

// waitDelivered waits for n "delivered" log lines.
func waitDelivered(t *testing.T, srv *mgtest.Server, n int) {
	t.Helper()
	waitLogCount(t, srv, "msg=delivered ", n)
}

// checkAll matches fetched messages to the sent ones by subject.
func checkAll(t *testing.T, who string, got [][]byte, sent map[string]string) {
	t.Helper()
	if len(got) != len(sent) {
		t.Errorf("%s fetched %d messages, want %d", who, len(got), len(sent))
	}
	seen := map[string]bool{}
	for _, m := range got {
		tag := subjectTag(string(m))
		want, ok := sent[tag]
		if !ok {
			t.Errorf("%s fetched a message with an unknown subject:\n%.400s", who, m)
			continue
		}
		seen[tag] = true
		checkDelivered(t, who+" reading "+tag, m, want)
	}
	var missing []string
	for tag := range sent {
		if !seen[tag] {
			missing = append(missing, tag)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("%s did not fetch: %v", who, missing)
	}
}

func subjectTag(m string) string {
	_, rest, ok := strings.Cut(m, "Subject: interop ")
	if !ok {
		return ""
	}
	tag, _, _ := strings.Cut(rest, "\n")
	return strings.TrimSuffix(tag, "\r")
}
