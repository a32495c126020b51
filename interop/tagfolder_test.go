package interop

import (
	"strings"
	"testing"

	"mailgate/internal/mgtest"
	"mailgate/internal/testenv"
)

// tagScript creates the folder "Lists" over IMAPS (create), or prints how
// many messages INBOX and Lists hold (count).
const tagScript = `import imaplib, ssl, sys
cmd, host, port, cafile, user, password = sys.argv[1:]
ctx = ssl.create_default_context(cafile=cafile)
ctx.check_hostname = False
c = imaplib.IMAP4_SSL(host, int(port), ssl_context=ctx, timeout=30)
c.login(user, password)
if cmd == "create":
    typ, data = c.create("Lists")
    assert typ == "OK", data
else:
    for box in ("INBOX", "Lists"):
        typ, data = c.select(box, readonly=True)
        assert typ == "OK", data
        print(box, int(data[0]))
c.logout()
`

// TestTagFindsFolderAnyCase: mail to alice+lists@, alice+LISTS@ and
// alice+Lists@, sent with swaks to the MX port, all land in the folder
// "Lists" that the user made with imaplib, none in INBOX.
func TestTagFindsFolderAnyCase(t *testing.T) {
	t.Parallel()
	swaks, py := testenv.Tool(t, "swaks"), testenv.Tool(t, "python3")
	srv := startFull(t, mgtest.Options{})
	script := writeFile(t, t.TempDir(), "tag.py", tagScript)
	ih, ip := hostPort(srv.Addr["imaps"])
	run(t, srv.Dir, "", py, script, "create", ih, ip, certFile(srv), user, pass)
	h, p := hostPort(srv.Addr["smtp"])
	for _, to := range []string{"alice+lists@localhost", "alice+LISTS@localhost", "Alice+Lists@localhost"} {
		run(t, srv.Dir, "", swaks, "--server", h, "--port", p, "--from", "friend@outside.test", "--to", to, "--timeout", "60")
	}
	waitDelivered(t, srv, 3)
	got := run(t, srv.Dir, "", py, script, "count", ih, ip, certFile(srv), user, pass)
	if want := "INBOX 0\nLists 3\n"; got != want {
		t.Errorf("after 3 messages to +lists in 3 cases, imaplib says:\n%swant:\n%s", got, want)
	}
	if strings.Contains(srv.Logs(), "level=ERROR") {
		t.Errorf("errors logged:\n%s", srv.Logs())
	}
}
