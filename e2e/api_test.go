package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-message/mail"

	"mailgate/internal/mgtest"
)

// imapFetchPy prints, base64, every message of INBOX whose X-Order field holds
// argv[6], read over IMAP STARTTLS with imaplib: host port ca user pw marker.
const imapFetchPy = `import base64, imaplib, ssl, sys
host, port, cafile, user, pw, marker = sys.argv[1:7]
ctx = ssl.create_default_context(cafile=cafile)
ctx.check_hostname = False
m = imaplib.IMAP4(host, int(port))
m.starttls(ssl_context=ctx)
m.login(user, pw)
m.select("INBOX", readonly=True)
typ, data = m.search(None, "HEADER", "X-Order", marker)
for num in data[0].split():
    typ, msg = m.fetch(num, "(BODY.PEEK[])")
    print(base64.b64encode(msg[0][1]).decode())
m.logout()
`

// imapFetch reads bob's messages with marker over IMAP.
func (e *promiseEnv) imapFetch(t *testing.T, marker string) [][]byte {
	t.Helper()
	host, port, _ := strings.Cut(e.srv.Addr["imap"], ":")
	out, err := exec.Command(e.python, "-c", imapFetchPy, host, port, filepath.Join(e.srv.DataDir, "tls", "selfsigned.crt"),
		pBob, pUsers[pBob], marker).CombinedOutput()
	if err != nil {
		t.Fatalf("imaplib: %v\n%s", err, out)
	}
	var msgs [][]byte
	for _, line := range strings.Fields(string(out)) {
		b, err := base64.StdEncoding.DecodeString(line)
		if err != nil {
			t.Fatalf("imaplib output: %q", out)
		}
		msgs = append(msgs, b)
	}
	return msgs
}

// TestAPISendArrivesSignedAndWhole is issue 19's first promise: one HTTPS
// call with text, HTML, an inline image and a binary attachment, to a
// local mailbox and a remote MX, is answered 202 with the queue ID; the
// message read back over IMAP is the stored file byte for byte, every
// part decodes to exactly what was sent, and the DKIM signature made by
// the submission chain verifies with dkimpy at both ends.
func TestAPISendArrivesSignedAndWhole(t *testing.T) {
	t.Parallel()
	e := startPromiseEnv(t, "")
	key := e.apikey(t, pApp, "--name", "shop")
	file := make([]byte, 3000)
	for i := range file {
		file[i] = byte(i * 7)
	}
	text := "Grüße,\nyour order has shipped.\n" + strings.Repeat("A long line of text that goes on ", 10) + "\n"
	html := `<p>Grüße, your order has shipped.</p><img src="cid:logo@shop">`
	req := map[string]any{
		"from": "Shop <" + pApp + ">", "to": []string{pBob, pRemote}, "subject": "api-whole Bestellung über Köln",
		"text": text, "html": html, "headers": map[string]string{"X-Order": "4711"},
		"attachments": []map[string]any{
			{"filename": "invoice.pdf", "content_type": "application/pdf", "content": base64.StdEncoding.EncodeToString(file)},
			{"inline": true, "content_id": "logo@shop", "content_type": "image/png", "content": base64.StdEncoding.EncodeToString([]byte("\x89PNG fake"))},
		},
	}
	body, _ := json.Marshal(req)
	a := e.call(t, post(key, string(body)))[0]
	var acc struct {
		ID         string   `json:"id"`
		Recipients []string `json:"recipients"`
	}
	if err := json.Unmarshal([]byte(a.Body), &acc); a.Status != 202 || err != nil || len(acc.ID) != 19 {
		t.Fatalf("POST: %d %s", a.Status, a.Body)
	}
	e.srv.WaitLog("msg=delivered msgid=" + acc.ID + " rcpt=" + pBob)
	got := e.imapFetch(t, "4711")
	if len(got) != 1 {
		t.Fatalf("%d messages over IMAP", len(got))
	}
	files, _ := filepath.Glob(filepath.Join(e.srv.MailDir(), pBob, "new", "*"))
	cur, _ := filepath.Glob(filepath.Join(e.srv.MailDir(), pBob, "cur", "*"))
	files = append(files, cur...)
	if len(files) != 1 {
		t.Fatalf("bob's Maildir holds %v", files)
	}
	if stored, _ := os.ReadFile(files[0]); !bytes.Equal(stored, got[0]) {
		t.Errorf("IMAP gave other bytes than the stored file:\n%s\n---\n%s", got[0], stored)
	}
	checkAPIMessage(t, got[0], text, html, file)
	remote := unstuff(e.sink.WaitMessages(t, 1, mgtest.Timeout)[0].Raw)
	checkAPIMessage(t, remote, text, html, file)
	for where, msg := range map[string][]byte{"mailbox": got[0], "remote": remote} {
		if v := e.dkimVerify(t, msg); v != "0 pass" {
			t.Errorf("dkimpy on the %s copy: %q", where, v)
		}
	}
}

// unstuff turns DATA as a sink saw it into the message: no final dot, no
// dot-stuffing (RFC 5321 section 4.5.2).
func unstuff(data []byte) []byte {
	data = bytes.TrimSuffix(data, []byte(".\r\n"))
	data = bytes.ReplaceAll(data, []byte("\r\n.."), []byte("\r\n."))
	if bytes.HasPrefix(data, []byte("..")) {
		data = data[1:]
	}
	return data
}

// checkAPIMessage parses msg as a mail client would and compares each
// part with what the request held.
func checkAPIMessage(t *testing.T, msg []byte, text, html string, file []byte) {
	t.Helper()
	mr, err := mail.CreateReader(bytes.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := mr.Header.Subject(); s != "api-whole Bestellung über Köln" {
		t.Errorf("Subject %q", s)
	}
	if from, _ := mr.Header.AddressList("From"); len(from) != 1 || from[0].String() != `"Shop" <app@mg.test>` {
		t.Errorf("From %v", from)
	}
	parts := map[string][]byte{}
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p.Body)
		ct, _, _ := p.Header.(interface {
			ContentType() (string, map[string]string, error)
		}).ContentType()
		parts[ct] = b
	}
	want := map[string]string{"text/plain": strings.ReplaceAll(text, "\n", "\r\n"), "text/html": html, "application/pdf": string(file), "image/png": "\x89PNG fake"}
	for ct, w := range want {
		if string(parts[ct]) != w {
			t.Errorf("part %s: got %q, want %q", ct, parts[ct], w)
		}
	}
}
