package console

import (
	"encoding/xml"
	"regexp"
	"strings"
	"testing"
)

var (
	imaps      = Server{Type: "imap", Hostname: "mail.example.com", Port: 993, Socket: "SSL"}
	imapPlain  = Server{Type: "imap", Hostname: "mail.example.com", Port: 143, Socket: "STARTTLS"}
	pop3       = Server{Type: "pop3", Hostname: "mail.example.com", Port: 110, Socket: "STARTTLS"}
	submission = Server{Type: "smtp", Hostname: "mail.example.com", Port: 587, Socket: "STARTTLS"}
)

// The profile of one account, key by key, as Apple's format names them.
func TestMobileconfig(t *testing.T) {
	t.Parallel()
	out, err := mobileconfig("bob@example.com", imaps, submission)
	if err != nil {
		t.Fatal(err)
	}
	id := "com.example.mail.mailgate." + profileTag("mail.example.com", "bob@example.com", "id")
	want := plistHeader + `<plist version="1.0">
  <dict>
    <key>PayloadContent</key>
    <array>
      <dict>
        <key>EmailAccountDescription</key>
        <string>bob@example.com</string>
        <key>EmailAccountType</key>
        <string>EmailTypeIMAP</string>
        <key>EmailAddress</key>
        <string>bob@example.com</string>
        <key>IncomingMailServerAuthentication</key>
        <string>EmailAuthPassword</string>
        <key>IncomingMailServerHostName</key>
        <string>mail.example.com</string>
        <key>IncomingMailServerPortNumber</key>
        <integer>993</integer>
        <key>IncomingMailServerUseSSL</key>
        <true></true>
        <key>IncomingMailServerUsername</key>
        <string>bob@example.com</string>
        <key>OutgoingMailServerAuthentication</key>
        <string>EmailAuthPassword</string>
        <key>OutgoingMailServerHostName</key>
        <string>mail.example.com</string>
        <key>OutgoingMailServerPortNumber</key>
        <integer>587</integer>
        <key>OutgoingMailServerUseSSL</key>
        <false></false>
        <key>OutgoingMailServerUsername</key>
        <string>bob@example.com</string>
        <key>OutgoingPasswordSameAsIncomingPassword</key>
        <true></true>
        <key>PayloadDisplayName</key>
        <string>Mail account bob@example.com</string>
        <key>PayloadIdentifier</key>
        <string>` + id + `.mail</string>
        <key>PayloadType</key>
        <string>com.apple.mail.managed</string>
        <key>PayloadUUID</key>
        <string>` + profileUUID("mail.example.com", "bob@example.com", "mail") + `</string>
        <key>PayloadVersion</key>
        <integer>1</integer>
      </dict>
    </array>
    <key>PayloadDescription</key>
    <string>Sets up bob@example.com on mail.example.com. Mail asks for your password when you install it.</string>
    <key>PayloadDisplayName</key>
    <string>Mail: bob@example.com</string>
    <key>PayloadIdentifier</key>
    <string>` + id + `</string>
    <key>PayloadRemovalDisallowed</key>
    <false></false>
    <key>PayloadType</key>
    <string>Configuration</string>
    <key>PayloadUUID</key>
    <string>` + profileUUID("mail.example.com", "bob@example.com", "profile") + `</string>
    <key>PayloadVersion</key>
    <integer>1</integer>
  </dict>
</plist>
`
	if string(out) != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
}

// An address with XML's special characters is escaped everywhere it
// appears and reads back whole; no element comes from it.
func TestMobileconfigEscapes(t *testing.T) {
	t.Parallel()
	odd := `"o'neil & co" <x>@example.com`
	out, err := mobileconfig(odd, imaps, submission)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "<x>") || strings.Contains(string(out), "& co") {
		t.Fatalf("unescaped address in\n%s", out)
	}
	var doc struct {
		Strings []string `xml:"dict>array>dict>string"`
		Keys    []string `xml:"dict>array>dict>key"`
	}
	if err := xml.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Keys) != 19 || doc.Strings[0] != odd || doc.Strings[2] != odd {
		t.Errorf("read back: %d keys, strings %q", len(doc.Keys), doc.Strings)
	}
	if want := "mail-_o_neil___co___x_-at-example.com.mobileconfig"; profileFileName(odd) != want {
		t.Errorf("file name %q, want %q", profileFileName(odd), want)
	}
}

// UUIDs are stable per account and host, differ between accounts,
// hosts and payloads, and are version 8 (RFC 9562).
func TestProfileUUID(t *testing.T) {
	t.Parallel()
	uuid := regexp.MustCompile(`^[0-9A-F]{8}-[0-9A-F]{4}-8[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}$`)
	a := profileUUID("mail.example.com", "bob@example.com", "mail")
	seen := map[string]bool{}
	for _, u := range []string{
		a,
		profileUUID("mail.example.com", "bob@example.com", "profile"),
		profileUUID("mail.example.com", "alice@example.com", "mail"),
		profileUUID("mx.example.com", "bob@example.com", "mail"),
	} {
		if !uuid.MatchString(u) || seen[u] {
			t.Errorf("UUID %s: malformed or repeated", u)
		}
		seen[u] = true
	}
	if b := profileUUID("Mail.Example.com", "Bob@Example.com", "mail"); b != a {
		t.Errorf("case changes the UUID: %s, %s", a, b)
	}
}

// IMAP is preferred to POP3, the first (implicit TLS) of each; without
// an incoming or an outgoing server there is no profile.
func TestProfileServers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		servers []Server
		in      Server
		ok      bool
	}{
		{"imaps first", []Server{submission, pop3, imaps, imapPlain}, imaps, true},
		{"STARTTLS only", []Server{imapPlain, submission}, imapPlain, true},
		{"POP3 without IMAP", []Server{pop3, submission}, pop3, true},
		{"no submission", []Server{imaps}, imaps, false},
		{"nothing", nil, Server{}, false},
	} {
		in, out, ok := profileServers(tc.servers)
		if ok != tc.ok || ok && (in != tc.in || out != submission) {
			t.Errorf("%s: %v %v %v", tc.name, in, out, ok)
		}
	}
	if out, _ := mobileconfig("bob@example.com", pop3, submission); !strings.Contains(string(out), "<string>EmailTypePOP</string>") {
		t.Errorf("POP3 profile:\n%s", out)
	}
}

func TestReverseDNS(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"mail.example.com": "com.example.mail", "Mail.Example.COM.": "com.example.mail", "localhost": "localhost"} {
		if got := reverseDNS(in); got != want {
			t.Errorf("reverseDNS(%q) = %q, want %q", in, got, want)
		}
	}
}
