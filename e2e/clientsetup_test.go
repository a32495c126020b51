package e2e

import (
	"encoding/json"
	"net/http"
	"os/exec"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"mailgate/internal/mgtest"
	"mailgate/internal/testenv"
)

// parseAutodiscover reads an autodiscover answer with Python's
// xml.etree, namespaces and all: the account's type and action, and
// each Protocol's elements by name.
const parseAutodiscover = `import json, sys, xml.etree.ElementTree as ET
ns = {"r": "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006",
      "o": "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"}
root = ET.fromstring(sys.stdin.buffer.read())
assert root.tag == "{%s}Autodiscover" % ns["r"], root.tag
acc = root.find("o:Response/o:Account", ns)
print(json.dumps({"type": acc.findtext("o:AccountType", namespaces=ns), "action": acc.findtext("o:Action", namespaces=ns),
    "protocols": [{c.tag.split("}")[1]: c.text for c in p} for p in acc.findall("o:Protocol", ns)]}))
`

type autodiscoverAnswer struct {
	Type, Action string
	Protocols    []map[string]string
}

// TestAutodiscoverOutlookRequests: curl sends Outlook's POX request to
// the binary's http listener; Python's XML parser reads the answer, and
// every Protocol value matches the config's listeners (implicit TLS
// preferred, STARTTLS as Encryption TLS). A GET works too; a foreign
// domain gets 404 and broken XML 400.
func TestAutodiscoverOutlookRequests(t *testing.T) {
	t.Parallel()
	curl, python := testenv.Tool(t, "curl"), testenv.Tool(t, "python3")
	srv := mgtest.Start(t, mgtest.Options{Hostname: "mail.mg.test", LocalDomain: "mg.test",
		Protocols: []string{"smtp", "submission", "submissions", "imap", "imaps", "pop3", "http"}})
	base := "http://" + srv.Addr["http"]
	proto := func(typ, listener, enc, login string) map[string]string {
		p := map[string]string{"Type": typ, "Server": "mail.mg.test", "Port": portOf(srv.Addr[listener]),
			"SPA": "off", "SSL": "on", "Encryption": enc, "AuthRequired": "on"}
		if login != "" {
			p["LoginName"] = login
		}
		return p
	}
	want := func(login string) autodiscoverAnswer {
		return autodiscoverAnswer{Type: "email", Action: "settings", Protocols: []map[string]string{
			proto("IMAP", "imaps", "SSL", login), proto("POP3", "pop3", "TLS", login), proto("SMTP", "submissions", "SSL", login)}}
	}
	for _, tc := range []struct {
		name, method, path, body, login string
	}{
		{"POST", "POST", "/autodiscover/autodiscover.xml", outlookRequest("tom&amp;jerry@MG.test"), "tom&jerry@MG.test"},
		{"POST capitalised", "POST", "/Autodiscover/Autodiscover.xml", outlookRequest("nobody-here@mg.test"), "nobody-here@mg.test"},
		{"GET with address", "GET", "/autodiscover/autodiscover.xml?emailaddress=bob%40mg.test", "", "bob@mg.test"},
		{"GET without", "GET", "/autodiscover/autodiscover.xml", "", ""},
	} {
		code, ctype, body := curlDo(t, curl, tc.method, base+tc.path, tc.body)
		if code != 200 || ctype != "text/xml; charset=utf-8" {
			t.Errorf("%s: %d %q\n%s", tc.name, code, ctype, body)
			continue
		}
		var got autodiscoverAnswer
		if out := pythonOut(t, python, parseAutodiscover, body); json.Unmarshal(out, &got) != nil || !reflect.DeepEqual(got, want(tc.login)) {
			t.Errorf("%s: parsed %s\nwant %+v\n%s", tc.name, out, want(tc.login), body)
		}
	}
	for _, tc := range []struct {
		name, body string
		code       int
	}{
		{"foreign domain", outlookRequest("bob@example.org"), 404},
		{"bad XML", "<Autodiscover><Request><EMailAddress>bob@mg.test", 400},
	} {
		if code, _, body := curlDo(t, curl, "POST", base+"/autodiscover/autodiscover.xml", tc.body); code != tc.code {
			t.Errorf("%s: %d, want %d\n%s", tc.name, code, tc.code, body)
		}
	}
}

// outlookRequest is the body Outlook POSTs (addr already XML-escaped).
func outlookRequest(addr string) string {
	return `<?xml version="1.0" encoding="utf-8"?><Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">` +
		`<Request><EMailAddress>` + addr + `</EMailAddress><AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema></Request></Autodiscover>`
}

// curlDo runs curl and returns the status, Content-Type and body.
func curlDo(t *testing.T, curl, method, url, body string) (int, string, string) {
	t.Helper()
	args := []string{"-sS", "--max-time", "30", "-X", method, "-w", "\n%{http_code} %{content_type}", url}
	if body != "" {
		args = append(args, "-H", "Content-Type: text/xml; charset=utf-8", "--data-binary", "@-")
	}
	cmd := exec.Command(curl, args...)
	cmd.Stdin = strings.NewReader(body)
	out, err := cmd.Output()
	i := strings.LastIndexByte(string(out), '\n')
	if err != nil || i < 0 {
		t.Fatalf("curl %s %s: %v\n%s", method, url, err, out)
	}
	status, ctype, _ := strings.Cut(string(out[i+1:]), " ")
	code, _ := strconv.Atoi(status)
	return code, ctype, string(out[:i])
}

// pythonOut runs a Python script with stdin and returns its output.
func pythonOut(t *testing.T, python, script, stdin string) []byte {
	t.Helper()
	cmd := exec.Command(python, "-c", script)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	return out
}

const profilePath = "/account/setup/apple.mobileconfig"

// readProfile loads a .mobileconfig with Python's plistlib.
const readProfile = `import json, plistlib, sys
print(json.dumps(plistlib.loads(sys.stdin.buffer.read())))
`

// TestMobileconfigFromConsole: a user logged in to the console
// downloads an Apple profile that Python's plistlib reads, naming the
// IMAPS and submissions listeners and the user's address; no password
// is in it; two downloads are the same, another account's differs, and
// without a session the browser is sent to the login page.
func TestMobileconfigFromConsole(t *testing.T) {
	t.Parallel()
	python := testenv.Tool(t, "python3")
	srv := consoleServer(t, "", mgtest.Options{Hostname: "mail.example.test", Protocols: []string{"imap", "imaps", "submissions"}})
	base := "http://" + srv.Addr["http"]
	anon := newBrowser(t, base, nil)
	if code, _, resp := anon.get(profilePath); code != http.StatusSeeOther || resp.Header.Get("Location") != "/console/login?next=%2Faccount%2Fsetup%2Fapple.mobileconfig" {
		t.Errorf("without a session: %d %q", code, resp.Header.Get("Location"))
	}
	user := newBrowser(t, base, nil)
	user.login(consoleUser, consoleUserPass)
	if _, page, _ := user.get("/account/setup"); !strings.Contains(page, `<a id="apple-profile" href="`+profilePath+`">`) {
		t.Errorf("the set-up page does not link the profile:\n%s", page)
	}
	first := downloadProfile(t, user, consoleUser)
	if again := downloadProfile(t, user, consoleUser); again != first {
		t.Errorf("a second download differs:\n%s\n%s", first, again)
	}
	var p profile
	if err := json.Unmarshal(pythonOut(t, python, readProfile, first), &p); err != nil || len(p.PayloadContent) != 1 {
		t.Fatalf("plistlib: %v %+v", err, p)
	}
	mail := p.PayloadContent[0]
	for k, v := range map[string]any{
		"PayloadType": "com.apple.mail.managed", "PayloadVersion": 1.0, "EmailAccountType": "EmailTypeIMAP",
		"EmailAddress": consoleUser, "EmailAccountDescription": consoleUser,
		"IncomingMailServerHostName": "mail.example.test", "IncomingMailServerPortNumber": port(srv.Addr["imaps"]),
		"IncomingMailServerUseSSL": true, "IncomingMailServerUsername": consoleUser, "IncomingMailServerAuthentication": "EmailAuthPassword",
		"OutgoingMailServerHostName": "mail.example.test", "OutgoingMailServerPortNumber": port(srv.Addr["submissions"]),
		"OutgoingMailServerUseSSL": true, "OutgoingMailServerUsername": consoleUser, "OutgoingMailServerAuthentication": "EmailAuthPassword",
		"OutgoingPasswordSameAsIncomingPassword": true,
	} {
		if mail[k] != v {
			t.Errorf("mail payload %s = %#v, want %#v", k, mail[k], v)
		}
	}
	if p.PayloadType != "Configuration" || p.PayloadVersion != 1 || !strings.HasPrefix(p.PayloadIdentifier, "test.example.mail.") || p.PayloadUUID == mail["PayloadUUID"] {
		t.Errorf("profile: %+v", p)
	}
	if _, ok := mail["IncomingPassword"]; ok || strings.Contains(first, consoleUserPass) {
		t.Errorf("the profile carries a password:\n%s", first)
	}
	admin := newBrowser(t, base, nil)
	admin.login(consoleAdmin, consoleAdminPass)
	var q profile
	json.Unmarshal(pythonOut(t, python, readProfile, downloadProfile(t, admin, consoleAdmin)), &q)
	if len(q.PayloadContent) != 1 || q.PayloadUUID == p.PayloadUUID || q.PayloadContent[0]["PayloadUUID"] == mail["PayloadUUID"] || q.PayloadIdentifier == p.PayloadIdentifier {
		t.Errorf("another account's profile has the same UUIDs or identifier: %+v\n%+v", p, q)
	}
}

// profile is the top of a configuration profile, as plistlib reads it.
type profile struct {
	PayloadType, PayloadIdentifier, PayloadUUID string
	PayloadVersion                              int
	PayloadContent                              []map[string]any
}

// downloadProfile GETs account's profile and checks how it is sent.
func downloadProfile(t *testing.T, b *browser, account string) string {
	t.Helper()
	code, body, resp := b.get(profilePath)
	disp := "attachment; filename=mail-" + strings.ReplaceAll(account, "@", "-at-") + ".mobileconfig"
	if code != http.StatusOK || resp.Header.Get("Content-Type") != "application/x-apple-aspen-config" || resp.Header.Get("Content-Disposition") != disp {
		t.Fatalf("GET %s: %d %v\n%s", profilePath, code, resp.Header, body)
	}
	return body
}

// port is a listener's port as plistlib's JSON gives an integer.
func port(addr string) float64 {
	n, _ := strconv.Atoi(portOf(addr))
	return float64(n)
}
