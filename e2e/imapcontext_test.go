package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"mailgate/internal/mgtest"
	"mailgate/internal/testenv"
)

// contextPy drives two IMAP sessions of one account with Python's
// imaplib over STARTTLS (argv = host port cafile user password): the
// phone keeps a search context (UID SEARCH RETURN (UPDATE COUNT)
// UNSEEN), the laptop reads, expunges and appends, and the phone prints
// the ESEARCH updates it gets at each NOOP (its tag written as T), then
// cancels the context and shows that nothing more comes.
const contextPy = `import imaplib, re, ssl, sys
host, port, cafile, user, pw = sys.argv[1:6]
ctx = ssl.create_default_context(cafile=cafile)
ctx.check_hostname = False
imaplib.Commands["CANCELUPDATE"] = ("SELECTED",)
def login():
    m = imaplib.IMAP4(host, int(port))
    m.starttls(ssl_context=ctx)
    m.login(user, pw)
    return m
phone, laptop = login(), login()
for i in range(3):
    phone.append("INBOX", None, None, ("Subject: note %d\r\n\r\nbody %d\r\n" % (i, i)).encode())
phone.select("INBOX")
laptop.select("INBOX")
tag = None
def show(step):
    global tag
    got = phone.untagged_responses.pop("ESEARCH", [])
    out = []
    for g in got:
        s = g.decode()
        tag = tag or re.match(r'\(TAG "([^"]+)"\)', s).group(1)
        out.append(s.replace('"%s"' % tag, "T"))
    print(step, "|", " / ".join(out) or "none")
typ, _ = phone.uid("SEARCH", "RETURN (UPDATE COUNT) UNSEEN")
show("search " + typ)
laptop.store("2", "+FLAGS", "\\Seen")
phone.noop()
show("laptop read 2")
laptop.store("3", "+FLAGS", "\\Deleted")
laptop.expunge()
phone.noop()
show("laptop expunged 3")
laptop.append("INBOX", None, None, b"Subject: new\r\n\r\nnew\r\n")
phone.noop()
show("laptop appended")
typ, _ = phone._simple_command("CANCELUPDATE", '"%s"' % tag)
print("cancel", typ)
laptop.store("1", "+FLAGS", "\\Seen")
phone.noop()
show("after cancel")
phone.logout()
laptop.logout()
`

// TestIMAPSearchContextTwoSessions is RFC 5267's CONTEXT=SEARCH through
// the binary with a real client: a phone keeps a live UNSEEN count
// while a laptop reads, expunges and appends in the same mailbox.
func TestIMAPSearchContextTwoSessions(t *testing.T) {
	t.Parallel()
	got := runImaplib(t, contextPy)
	want := strings.Join([]string{
		"search OK | (TAG T) UID COUNT 3",
		"laptop read 2 | (TAG T) UID REMOVEFROM (0 2)",
		"laptop expunged 3 | (TAG T) UID REMOVEFROM (0 3)",
		"laptop appended | (TAG T) UID ADDTO (0 4)",
		"cancel OK",
		"after cancel | none",
	}, "\n")
	if got != want {
		t.Errorf("phone saw:\n%s\nwant:\n%s", got, want)
	}
}

// runImaplib starts mailgate with an IMAP listener and alice@localhost,
// runs a Python imaplib script against it (argv = host port cafile user
// password) and returns its output, trimmed.
func runImaplib(t *testing.T, script string) string {
	t.Helper()
	python := testenv.Tool(t, "python3")
	srv := mgtest.Start(t, mgtest.Options{
		Protocols: []string{"imap"},
		Users:     map[string]string{"alice@localhost": "alice pw"},
	})
	path := filepath.Join(srv.Dir, "client.py")
	if err := os.WriteFile(path, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	host, port, _ := strings.Cut(srv.Addr["imap"], ":")
	cafile := filepath.Join(srv.DataDir, "tls", "selfsigned.crt")
	out, err := exec.Command(python, path, host, port, cafile, "alice@localhost", "alice pw").CombinedOutput()
	if err != nil {
		t.Fatalf("imaplib: %v\n%s", err, out)
	}
	return strings.TrimSpace(string(out))
}
