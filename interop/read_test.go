package interop

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"mailgate/internal/mgtest"
	"mailgate/internal/testenv"
)

// reader fetches every message of user's INBOX with one real client,
// leaving them on the server.
type reader struct {
	name string
	read func(t *testing.T, srv *mgtest.Server) [][]byte
}

var readers = []reader{
	{"poplib-stls", pyRead("poplib", "starttls", "pop3")},
	{"poplib-implicit", pyRead("poplib", "implicit", "pop3s")},
	{"imaplib-starttls", pyRead("imaplib", "starttls", "imap")},
	{"imaplib-implicit", pyRead("imaplib", "implicit", "imaps")},
	{"curl-pop3s", curlPOP3},
	{"curl-imaps", curlIMAP},
	{"fetchmail-pop3-stls", fetchmailRead("pop3", "POP3")},
	{"fetchmail-imaps", fetchmailRead("imaps", "IMAP")},
	{"mbsync-imaps", mbsyncRead("imaps", "IMAPS")},
	{"mbsync-starttls", mbsyncRead("imap", "STARTTLS")},
}

// readScript fetches every message with poplib or imaplib into files in
// the output directory, verifying mailgate's certificate.
const readScript = `import imaplib, os, poplib, ssl, sys
lib, mode, host, port, cafile, user, password, out = sys.argv[1:]
ctx = ssl.create_default_context(cafile=cafile)
ctx.check_hostname = False
msgs = []
if lib == "poplib":
    if mode == "implicit":
        c = poplib.POP3_SSL(host, int(port), context=ctx, timeout=30)
    else:
        c = poplib.POP3(host, int(port), timeout=30)
        c.stls(context=ctx)
    c.user(user)
    c.pass_(password)
    n, _ = c.stat()
    for i in range(1, n + 1):
        _, lines, _ = c.retr(i)
        msgs.append(b"\r\n".join(lines) + b"\r\n")
    c.quit()
else:
    if mode == "implicit":
        c = imaplib.IMAP4_SSL(host, int(port), ssl_context=ctx, timeout=30)
    else:
        c = imaplib.IMAP4(host, int(port), timeout=30)
        c.starttls(ssl_context=ctx)
    c.login(user, password)
    c.select("INBOX", readonly=True)
    _, data = c.search(None, "ALL")
    for num in data[0].split():
        _, d = c.fetch(num, "(BODY.PEEK[])")
        msgs.append(d[0][1])
    c.logout()
for i, m in enumerate(msgs):
    with open(os.path.join(out, str(i)), "wb") as f:
        f.write(m)
`

func pyRead(lib, mode, listener string) func(*testing.T, *mgtest.Server) [][]byte {
	return func(t *testing.T, srv *mgtest.Server) [][]byte {
		dir := t.TempDir()
		script := writeFile(t, dir, "read.py", readScript)
		out := filepath.Join(dir, "out")
		os.Mkdir(out, 0o700)
		h, p := hostPort(srv.Addr[listener])
		run(t, dir, "", testenv.Tool(t, "python3"), script, lib, mode, h, p, certFile(srv), user, pass, out)
		return readDir(t, out)
	}
}

func certFile(srv *mgtest.Server) string { return filepath.Join(srv.DataDir, "tls", "selfsigned.crt") }

// readDir returns the contents of every file in dir, in name order.
func readDir(t *testing.T, dir string) [][]byte {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		if !e.IsDir() {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	var msgs [][]byte
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, b)
	}
	return msgs
}

var listLineRE = regexp.MustCompile(`(?m)^(\d+) \d+\r?$`)

// curlPOP3 lists the maildrop over pop3s:// and fetches each message.
func curlPOP3(t *testing.T, srv *mgtest.Server) [][]byte {
	curl := testenv.Tool(t, "curl")
	base := "pop3s://" + srv.Addr["pop3s"] + "/"
	auth := []string{"-sS", "--cacert", certFile(srv), "--resolve", "localhost:" + port(srv, "pop3s") + ":127.0.0.1", "-u", user + ":" + pass}
	base = "pop3s://localhost:" + port(srv, "pop3s") + "/"
	list := run(t, srv.Dir, "", curl, append(auth, base)...)
	var msgs [][]byte
	for _, m := range listLineRE.FindAllStringSubmatch(list, -1) {
		msgs = append(msgs, []byte(run(t, srv.Dir, "", curl, append(auth, base+m[1])...)))
	}
	return msgs
}

var tuidRE = regexp.MustCompile(`(?m)^X-TUID: [A-Za-z0-9+/]+\r?\n`)

var searchRE = regexp.MustCompile(`(?m)^\* SEARCH([ 0-9]*)\r?$`)

// curlIMAP searches INBOX over imaps:// and fetches each message by its
// sequence number.
func curlIMAP(t *testing.T, srv *mgtest.Server) [][]byte {
	curl := testenv.Tool(t, "curl")
	auth := []string{"-sS", "--cacert", certFile(srv), "--resolve", "localhost:" + port(srv, "imaps") + ":127.0.0.1", "-u", user + ":" + pass}
	base := "imaps://localhost:" + port(srv, "imaps") + "/INBOX"
	m := searchRE.FindStringSubmatch(run(t, srv.Dir, "", curl, append(auth, "-X", "SEARCH ALL", base)...))
	if m == nil {
		t.Fatal("curl: no * SEARCH line")
	}
	var msgs [][]byte
	for _, n := range strings.Fields(m[1]) {
		msgs = append(msgs, []byte(run(t, srv.Dir, "", curl, append(auth, base+";MAILINDEX="+n)...)))
	}
	return msgs
}

func port(srv *mgtest.Server, listener string) string {
	_, p := hostPort(srv.Addr[listener])
	return p
}

// fetchmailRead runs fetchmail once, keeping the mail on the server and
// handing each message to an MDA that writes it to a file.
func fetchmailRead(listener, proto string) func(*testing.T, *mgtest.Server) [][]byte {
	return func(t *testing.T, srv *mgtest.Server) [][]byte {
		dir := t.TempDir()
		out := filepath.Join(dir, "out")
		os.Mkdir(out, 0o700)
		tlsMode := "sslproto TLS1.2+" // STLS / STARTTLS, required
		if strings.HasSuffix(listener, "s") {
			tlsMode = "ssl"
		}
		rc := writeFile(t, dir, "fetchmailrc", "set no syslog\n"+
			"poll localhost via 127.0.0.1 service "+port(srv, listener)+" protocol "+proto+" auth password\n"+
			"  user \""+user+"\" password \""+pass+"\" is root here\n"+
			"  "+tlsMode+" sslcertck sslcommonname localhost sslcertfile \""+certFile(srv)+"\"\n"+
			"  keep fetchall no rewrite\n"+
			"  mda \"cat > "+out+"/msg.$$\"\n")
		run(t, dir, "", testenv.Tool(t, "fetchmail"), "-f", rc, "-i", filepath.Join(dir, "fetchids"), "--nodetach")
		return readDir(t, out)
	}
}

// mbsyncRead pulls INBOX into a local Maildir with mbsync.
func mbsyncRead(listener, tlsType string) func(*testing.T, *mgtest.Server) [][]byte {
	return func(t *testing.T, srv *mgtest.Server) [][]byte {
		dir := t.TempDir()
		local := filepath.Join(dir, "mail") + "/"
		rc := writeFile(t, dir, "mbsyncrc", "IMAPAccount mg\nHost 127.0.0.1\nPort "+port(srv, listener)+
			"\nUser "+user+"\nPass \""+pass+"\"\nSSLType "+tlsType+"\nCertificateFile "+certFile(srv)+"\n\n"+
			"IMAPStore far\nAccount mg\n\nMaildirStore near\nPath "+local+"\nInbox "+local+"INBOX\n\n"+
			"Channel ch\nFar :far:\nNear :near:\nPatterns INBOX\nCreate Near\nSync Pull\nSyncState *\n")
		if err := os.MkdirAll(local, 0o700); err != nil {
			t.Fatal(err)
		}
		run(t, dir, "", testenv.Tool(t, "mbsync"), "-c", rc, "-a")
		var msgs [][]byte
		for _, sub := range []string{"new", "cur"} {
			msgs = append(msgs, readDir(t, filepath.Join(local, "INBOX", sub))...)
		}
		// mbsync adds its own transaction ID header to every message it
		// stores (isync's documented X-TUID); nothing else may differ.
		for i, m := range msgs {
			msgs[i] = tuidRE.ReplaceAll(m, nil)
		}
		return msgs
	}
}
