package e2e

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"mailgate/internal/mgtest"
	"mailgate/internal/testenv"
)

// readmeScript is the README's Python example: log in on the embedded
// default's submission port with the printed password and send one
// message. The certificate check uses the self-signed certificate that
// mailgate generated into its data directory.
const readmeScript = `import smtplib, ssl, sys
from email.message import EmailMessage

password = sys.argv[1]  # the password= line of mailgate's first start
msg = EmailMessage()
msg["From"] = "postmaster@localhost"
msg["To"] = "postmaster@localhost"
msg["Subject"] = "Hello from smtplib"
msg.set_content("It works.")

ctx = ssl.create_default_context(cafile="mailgate-data/tls/selfsigned.crt")
with smtplib.SMTP("localhost", 2587) as s:
    s.starttls(context=ctx)
    s.login("postmaster@localhost", password)
    s.send_message(msg)
print("sent")
`

// TestPythonSMTPLibOnEmbeddedDefault runs `mailgate serve` with no config,
// as the README tells a newcomer to, takes the password from its log and
// sends a message with Python's smtplib. The embedded default listens on
// fixed ports, so this test cannot run in parallel with another
// mailgate on the same machine.
func TestPythonSMTPLibOnEmbeddedDefault(t *testing.T) {
	python := testenv.Tool(t, "python3")
	for _, addr := range []string{"127.0.0.1:2525", "127.0.0.1:2587", "127.0.0.1:2465"} {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is taken; the embedded default needs it: %v", addr, err)
			}
			t.Skipf("%s is taken by another program; the embedded default needs it", addr)
		}
		ln.Close()
	}
	srv := mgtest.Start(t, mgtest.Options{Embedded: true})
	if srv.Password == "" {
		t.Fatalf("no password= line on the first start:\n%s", srv.Logs())
	}
	line := srv.WaitLog("password=")
	if !strings.Contains(line, "account=postmaster@localhost") {
		t.Errorf("password line does not name the account: %q", line)
	}

	script := filepath.Join(srv.Dir, "send.py")
	if err := os.WriteFile(script, []byte(readmeScript), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(python, script, srv.Password)
	cmd.Dir = srv.Dir // the README runs it next to ./mailgate-data
	out, err := cmd.CombinedOutput()
	if err != nil || string(out) != "sent\n" {
		t.Fatalf("python3 send.py: %v\n%s", err, out)
	}
	// send_message hides the reply: the log names the accepted message.
	line = srv.WaitLog("msg=accepted")
	id := regexp.MustCompile(`msgid=([0-9a-f]{19})`).FindStringSubmatch(line)
	if id == nil || !strings.Contains(line, "account=postmaster@localhost") {
		t.Fatalf("accepted line %q", line)
	}
	raw, where := findMessage(t, srv, id[1])
	body := string(bodyAfterReceived(t, raw))
	for _, want := range []string{"From: postmaster@localhost\r\n", "Subject: Hello from smtplib\r\n", "\r\n\r\nIt works.\r\n"} {
		if !strings.Contains(body, want) {
			t.Errorf("stored message (%s) lacks %q:\n%s", where, want, body)
		}
	}
	// The password is shown once: a second start does not print one.
	if code := srv.Stop(); code != 0 {
		t.Errorf("SIGTERM: exit %d", code)
	}
	srv.Restart()
	if srv.WaitLog("msg=ready"); strings.Count(srv.Logs(), "password=") != 1 {
		t.Errorf("the password was printed again on the second start")
	}
}
