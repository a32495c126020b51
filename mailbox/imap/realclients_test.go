package imap

import (
	"context"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mailgate/internal/testenv"
)

const pythonScript = `
import imaplib, ssl, sys
port = int(sys.argv[1])
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
m = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=ctx)
print(m.login("alice", "secret")[0])
print(m.append("INBOX", r"(\Flagged)", None, b"Subject: from python\r\n\r\nhello imaplib\r\n")[0])
typ, data = m.select("INBOX")
print("SELECT", typ, data[0].decode())
typ, data = m.uid("SEARCH", None, "SUBJECT", '"from python"')
print("SEARCH", data[0].decode())
typ, data = m.fetch("2", "(FLAGS BODY.PEEK[TEXT])")
print("TEXT", data[0][1].decode().strip())
print("STORE", m.store("1", "+FLAGS", r"\Deleted")[0])
typ, data = m.expunge()
print("EXPUNGE", data[0].decode())
typ, data = m.list()
print("LIST", len(data))
m.logout()
print("BYE")
`

func TestPythonImaplib(t *testing.T) {
	t.Parallel()
	py := testenv.Tool(t, "python3")
	env := startServer(t, nil)
	env.store.Deliver(context.Background(), alice, "", []byte("Subject: first\r\n\r\none\r\n"), false)
	_, port, _ := net.SplitHostPort(env.tlsAddr)
	out, err := exec.Command(py, "-c", pythonScript, port).CombinedOutput()
	if err != nil {
		t.Fatalf("python3 imaplib: %v\n%s", err, out)
	}
	want := "OK\nOK\nSELECT OK 2\nSEARCH 2\nTEXT hello imaplib\nSTORE OK\nEXPUNGE 1\nLIST 6\nBYE\n"
	if string(out) != want {
		t.Errorf("python3 imaplib printed:\n%s\nwant:\n%s", out, want)
	}
}

// quotaScript logs in over STARTTLS on the plain port, as a script
// would, and reads the quota.
const quotaScript = `
import imaplib, ssl, sys
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
m = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]))
print("BEFORE", " ".join(m.capabilities))
try:
    m.login("alice", "secret")
except imaplib.IMAP4.error as e:
    print("LOGIN", e)
print("STARTTLS", m.starttls(ssl_context=ctx)[0])
print("LOGIN", m.login("alice", "secret")[0])
print("AFTER", " ".join(c for c in m.capability()[1][0].decode().split() if c.startswith("QUOTA")))
typ, data = m.getquotaroot("INBOX")
print("GETQUOTAROOT", typ, [d.decode() for part in data for d in part])
typ, data = m.getquota('""')
print("GETQUOTA", typ, data[0].decode())
typ, data = m.setquota('""', "(STORAGE 10)")
print("SETQUOTA", typ, data[0].decode())
m.logout()
`

func TestPythonImaplibQuota(t *testing.T) {
	t.Parallel()
	py := testenv.Tool(t, "python3")
	env := startServer(t, nil)
	env.store.SetQuota(alice, 2000000)
	deliverKnown(t, env)
	_, port, _ := net.SplitHostPort(env.plainAddr)
	out, err := exec.Command(py, "-c", quotaScript, port).CombinedOutput()
	if err != nil {
		t.Fatalf("python3 imaplib: %v\n%s", err, out)
	}
	want := "BEFORE IMAP4REV2 IMAP4REV1 SASL-IR LITERAL- STARTTLS LOGINDISABLED ID\n" +
		"LOGIN b'[PRIVACYREQUIRED] TLS is required to authenticate'\n" +
		"STARTTLS OK\nLOGIN OK\nAFTER QUOTA QUOTA=RES-STORAGE\n" +
		`GETQUOTAROOT OK ['INBOX ""', '"" (STORAGE 4 1953)']` + "\n" +
		`GETQUOTA OK "" (STORAGE 4 1953)` + "\n" +
		"SETQUOTA NO [NOPERM] " + setQuotaRefused + "\n"
	if string(out) != want {
		t.Errorf("python3 imaplib printed:\n%s\nwant:\n%s", out, want)
	}
}

func TestCurl(t *testing.T) {
	t.Parallel()
	curl := testenv.Tool(t, "curl")
	env := startServer(t, nil)
	msg := "Subject: for curl\r\n\r\nfetched by curl\r\n"
	env.store.Deliver(context.Background(), alice, "", []byte(msg), false)
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(curl, append([]string{"-s", "-S", "-k", "--max-time", "20", "-u", "alice:secret"}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("curl %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	if got := run("imaps://" + env.tlsAddr + "/INBOX;UID=1"); got != msg {
		t.Errorf("curl imaps:// fetched %q, want %q", got, msg)
	}
	if got := run("--ssl-reqd", "imap://"+env.plainAddr+"/INBOX;UID=1"); got != msg {
		t.Errorf("curl imap:// with STARTTLS fetched %q, want %q", got, msg)
	}
	if got := run("imaps://" + env.tlsAddr + "/"); !strings.Contains(got, `* LIST (\HasNoChildren \Subscribed \Sent) "/" "Sent"`) {
		t.Errorf("curl folder list:\n%s", got)
	}
}

// TestMbsyncBothWays syncs the account with a local Maildir via mbsync:
// server mail arrives locally, and a message and a flag made locally
// reach the server.
func TestMbsyncBothWays(t *testing.T) {
	t.Parallel()
	mbsync := testenv.Tool(t, "mbsync")
	tlsConf := selfSigned(t)
	env := startServer(t, func(o *Options) { o.TLS = tlsConf })
	env.store.Deliver(context.Background(), alice, "", []byte("Subject: from server\r\n\r\nserver body\r\n"), false)
	dir := t.TempDir()
	certFile := filepath.Join(dir, "cert.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsConf.Certificates[0].Certificate[0]}), 0o600)
	host, port, _ := net.SplitHostPort(env.tlsAddr)
	local := filepath.Join(dir, "local")
	os.MkdirAll(local, 0o700)
	conf := fmt.Sprintf(`IMAPAccount test
Host %s
Port %s
User alice
Pass secret
SSLType IMAPS
CertificateFile %s

IMAPStore remote
Account test

MaildirStore local
Path %s/
Inbox %s/INBOX
SubFolders Verbatim

Channel sync
Far :remote:
Near :local:
Patterns *
Create Both
Expunge Both
SyncState *
`, host, port, certFile, local, local)
	confFile := filepath.Join(dir, "mbsyncrc")
	os.WriteFile(confFile, []byte(conf), 0o600)
	sync := func() {
		t.Helper()
		cmd := exec.Command(mbsync, "-c", confFile, "-a")
		cmd.Env = append(os.Environ(), "HOME="+dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("mbsync: %v\n%s", err, out)
		}
	}
	sync()
	entries, _ := filepath.Glob(filepath.Join(local, "INBOX", "*", "*"))
	if len(entries) != 1 {
		t.Fatalf("local INBOX has %d messages after the first sync, want 1", len(entries))
	}
	if data, _ := os.ReadFile(entries[0]); !strings.Contains(string(data), "server body") {
		t.Errorf("synced message: %q", data)
	}
	// Locally: mark it seen (rename with flag S), and write a new message.
	base := filepath.Base(entries[0])
	seen := filepath.Join(local, "INBOX", "cur", strings.SplitN(base, ":2,", 2)[0]+":2,S")
	if err := os.Rename(entries[0], seen); err != nil {
		t.Fatal(err)
	}
	newMsg := filepath.Join(local, "Archive", "new", fmt.Sprintf("%d.local.test", time.Now().Unix()))
	os.WriteFile(newMsg, []byte("Subject: from mutt\r\n\r\nlocal body\r\n"), 0o600)
	sync()
	snap, err := env.store.Messages(alice, "INBOX")
	if err != nil || len(snap.Messages) != 1 || !hasFlag(snap.Messages[0].Flags, `\Seen`) {
		t.Errorf("server INBOX after sync: %+v, %v (want the message \\Seen)", snap, err)
	}
	archive, _ := env.store.Messages(alice, "Archive")
	if len(archive.Messages) != 1 {
		t.Fatalf("server Archive has %d messages, want the one written locally", len(archive.Messages))
	}
	f, _, _ := env.store.OpenMessage(alice, "Archive", archive.Messages[0].UID)
	defer f.Close()
	data := make([]byte, 100)
	n, _ := f.Read(data)
	if !strings.Contains(string(data[:n]), "local body") {
		t.Errorf("uploaded message: %q", data[:n])
	}
}
