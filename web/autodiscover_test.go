package web

import (
	"encoding/xml"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// setupConfig has every kind of listener, implicit TLS first.
var setupConfig = ClientConfig{
	Domains: []string{"example.com", "Other.Example."},
	Incoming: []ClientServer{
		{Type: "imap", Hostname: "mail.example.com", Port: 993, Socket: "SSL"},
		{Type: "imap", Hostname: "mail.example.com", Port: 143, Socket: "STARTTLS"},
		{Type: "pop3", Hostname: "mail.example.com", Port: 110, Socket: "STARTTLS"},
	},
	Outgoing: []ClientServer{
		{Type: "smtp", Hostname: "mail.example.com", Port: 465, Socket: "SSL"},
		{Type: "smtp", Hostname: "mail.example.com", Port: 587, Socket: "STARTTLS"},
	},
}

// The answer names the preferred listener of each protocol, and an
// address with XML's special characters comes back escaped and whole.
func TestAutodiscoverXML(t *testing.T) {
	t.Parallel()
	addr := `o'neil&"co"<x>@example.com`
	out, err := setupConfig.AutodiscoverXML(addr)
	if err != nil {
		t.Fatal(err)
	}
	want := `<?xml version="1.0" encoding="UTF-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006">
  <Response xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a">
    <Account>
      <AccountType>email</AccountType>
      <Action>settings</Action>
      <Protocol>
        <Type>IMAP</Type>
        <Server>mail.example.com</Server>
        <Port>993</Port>
        <LoginName>o&#39;neil&amp;&#34;co&#34;&lt;x&gt;@example.com</LoginName>
        <SPA>off</SPA>
        <SSL>on</SSL>
        <Encryption>SSL</Encryption>
        <AuthRequired>on</AuthRequired>
      </Protocol>
      <Protocol>
        <Type>POP3</Type>
        <Server>mail.example.com</Server>
        <Port>110</Port>
        <LoginName>o&#39;neil&amp;&#34;co&#34;&lt;x&gt;@example.com</LoginName>
        <SPA>off</SPA>
        <SSL>on</SSL>
        <Encryption>TLS</Encryption>
        <AuthRequired>on</AuthRequired>
      </Protocol>
      <Protocol>
        <Type>SMTP</Type>
        <Server>mail.example.com</Server>
        <Port>465</Port>
        <LoginName>o&#39;neil&amp;&#34;co&#34;&lt;x&gt;@example.com</LoginName>
        <SPA>off</SPA>
        <SSL>on</SSL>
        <Encryption>SSL</Encryption>
        <AuthRequired>on</AuthRequired>
      </Protocol>
    </Account>
  </Response>
</Autodiscover>
`
	if string(out) != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
	var back struct {
		Logins []string `xml:"Response>Account>Protocol>LoginName"`
	}
	if err := xml.Unmarshal(out, &back); err != nil || len(back.Logins) != 3 || back.Logins[0] != addr {
		t.Errorf("parsed back: %v %q", err, back.Logins)
	}
	noLogin, _ := setupConfig.AutodiscoverXML("")
	if strings.Contains(string(noLogin), "LoginName") {
		t.Errorf("without an address the answer names a login:\n%s", noLogin)
	}
}

// TestAutodiscoverRequests: what the listener answers each kind of
// request, before and after it has a config.
func TestAutodiscoverRequests(t *testing.T) {
	t.Parallel()
	s := New(prometheus.NewRegistry(), "", quiet())
	base := serve(t, s)
	good := autodiscoverBody("bob@Example.COM")
	if code, _ := do(t, "POST", base+"/autodiscover/autodiscover.xml", good); code != http.StatusNotFound {
		t.Errorf("before SetAutoconfig: %d", code)
	}
	s.SetAutoconfig(setupConfig)
	for _, tc := range []struct {
		name, method, path, body string
		code                     int
		has                      string
	}{
		{"POST", "POST", "/autodiscover/autodiscover.xml", good, 200, "<LoginName>bob@Example.COM</LoginName>"},
		{"capitalised path", "POST", "/Autodiscover/Autodiscover.xml", autodiscoverBody("x@other.example"), 200, "<Port>465</Port>"},
		{"GET with address", "GET", "/autodiscover/autodiscover.xml?emailaddress=bob%40example.com", "", 200, "<LoginName>bob@example.com</LoginName>"},
		{"GET without", "GET", "/autodiscover/autodiscover.xml", "", 200, "<Encryption>SSL</Encryption>"},
		{"foreign domain", "POST", "/autodiscover/autodiscover.xml", autodiscoverBody("bob@example.org"), 404, "not a domain of this server"},
		{"subdomain", "POST", "/autodiscover/autodiscover.xml", autodiscoverBody("bob@sub.example.com"), 404, ""},
		{"GET foreign", "GET", "/autodiscover/autodiscover.xml?emailaddress=bob%40example.org", "", 404, ""},
		{"bad XML", "POST", "/autodiscover/autodiscover.xml", "<Autodiscover><Request>", 400, "not an <Autodiscover> XML"},
		{"other root", "POST", "/autodiscover/autodiscover.xml", "<Other/>", 400, ""},
		{"no address", "POST", "/autodiscover/autodiscover.xml", autodiscoverBody(""), 400, "not a mail address"},
		{"no local part", "POST", "/autodiscover/autodiscover.xml", autodiscoverBody("@example.com"), 400, ""},
		{"control character", "POST", "/autodiscover/autodiscover.xml", autodiscoverBody("a&#10;b@example.com"), 400, ""},
		{"mobilesync schema", "POST", "/autodiscover/autodiscover.xml", strings.Replace(good, "outlook/responseschema/2006a", "mobilesync/responseschema/2006", 1), 404, "outlook response schema"},
		{"too big", "POST", "/autodiscover/autodiscover.xml", "<Autodiscover>" + strings.Repeat(" ", 70<<10), 413, ""},
		{"PUT", "PUT", "/autodiscover/autodiscover.xml", good, 405, ""},
	} {
		code, body := do(t, tc.method, base+tc.path, tc.body)
		if code != tc.code || !strings.Contains(body, tc.has) {
			t.Errorf("%s: %d, want %d with %q\n%s", tc.name, code, tc.code, tc.has, body)
		}
	}
}

// autodiscoverBody is the request Outlook sends for addr (XML-escaped
// by the caller where needed).
func autodiscoverBody(addr string) string {
	return `<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
  <Request>
    <EMailAddress>` + addr + `</EMailAddress>
    <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>
  </Request>
</Autodiscover>`
}

func do(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "text/xml")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode == 200 && resp.Header.Get("Content-Type") != "text/xml; charset=utf-8" {
		t.Errorf("%s %s: Content-Type %q", method, url, resp.Header.Get("Content-Type"))
	}
	return resp.StatusCode, string(b)
}
