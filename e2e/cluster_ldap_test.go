package e2e

import (
	"fmt"
	"strings"
	"testing"

	"mailgate/internal/mgtest"
)

// ldapPeople is the test directory: carol, with an alias, a send-as
// domain and a quota in attributes the config names.
const ldapPeople = `dn: dc=example,dc=com
objectClass: dcObject
objectClass: organization
o: Example
dc: example

dn: ou=people,dc=example,dc=com
objectClass: organizationalUnit
ou: people

dn: uid=carol,ou=people,dc=example,dc=com
objectClass: inetOrgPerson
objectClass: inetLocalMailRecipient
uid: carol
cn: Carol
sn: Example
mail: carol@localhost
mailLocalAddress: sales@localhost
carLicense: @apps.example
employeeNumber: 10000000
userPassword: {PASSWORD:carol-secret-1}
`

// TestLDAPAccounts logs in over IMAP and SMTP as an account that exists
// only in a real slapd, next to one from accounts.yaml; delivers to its
// alias; lets it send as its send-as domain; and, with slapd killed,
// answers its logins (SMTP, IMAP, POP3) and unknown recipients with
// temporary errors, not counted as failed logins.
func TestLDAPAccounts(t *testing.T) {
	sd, url := startSlapd(t, ldapPeople)
	cfg := fmt.Sprintf(`auth:
  delay: 1ms
  ldap:
    url: %s
    base_dn: ou=people,%s
    filter: (|(mail=%%s)(mailLocalAddress=%%s))
    alias_attribute: mailLocalAddress
    send_as_attribute: carLicense
    quota_attribute: employeeNumber
`, url, ldapSuffix)
	insecure := "allow_insecure_auth: true"
	srv := startWithListenerKeys(t, mgtest.Options{
		Protocols: []string{"smtp", "submission", "imap", "pop3"}, Config: cfg,
		Users:   map[string]string{"alice@localhost": "alice-secret-1"},
		Filters: map[string][]string{"submission": {"sender_policy"}},
	}, map[string]string{"submission": insecure, "imap": insecure, "pop3": insecure})
	imap, sub := srv.Addr["imap"], srv.Addr["submission"]

	for _, c := range []struct{ user, pass, want string }{
		{"carol@localhost", "carol-secret-1", "a OK"},
		{"carol@localhost", "wrong", "a NO"},
		{"sales@localhost", "carol-secret-1", "a NO"}, // an alias is not a login
		{"alice@localhost", "alice-secret-1", "a OK"}, // accounts.yaml still works
	} {
		if r := imapLogin(t, "127.0.0.1", imap, c.user, c.pass); !strings.HasPrefix(r, c.want) {
			t.Errorf("IMAP LOGIN %s/%s: %q; want %s", c.user, c.pass, r, c.want)
		}
	}
	if r := smtpAuth(t, "127.0.0.1", sub, "carol@localhost", "carol-secret-1"); !strings.HasPrefix(r, "235") {
		t.Errorf("SMTP AUTH as the LDAP account: %q", r)
	}
	if r := submitFrom(t, "127.0.0.1", sub, "carol@localhost", "carol-secret-1", "billing@apps.example", "sales@localhost"); !strings.HasPrefix(r, "250 ") {
		t.Errorf("sending as the send-as domain to the alias: %q", r)
	}
	if r := submitFrom(t, "127.0.0.1", sub, "carol@localhost", "carol-secret-1", "someone@other.example", "sales@localhost"); !strings.HasPrefix(r, "5") {
		t.Errorf("sending as an address the entry does not list: %q; want a 5xx", r)
	}
	waitInbox(t, srv, "carol@localhost", "From: billing@apps.example")
	if r := rcptReply(t, srv.Addr["smtp"], "nobody@localhost"); !strings.HasPrefix(r, "550 5.1.1") {
		t.Errorf("RCPT to an address in neither source: %q; want 550 5.1.1", r)
	}

	sd.kill()
	if r := rcptReply(t, srv.Addr["smtp"], "newcomer@localhost"); !strings.HasPrefix(r, "451 4.4.3") {
		t.Errorf("RCPT to an unknown address with the directory down: %q; want 451 4.4.3", r)
	}
	if r := smtpAuth(t, "127.0.0.1", sub, "carol@localhost", "carol-secret-1"); !strings.HasPrefix(r, "454 4.7.0") {
		t.Errorf("SMTP AUTH with the directory down: %q; want 454 4.7.0", r)
	}
	if r := smtpAuth(t, "127.0.0.1", sub, "alice@localhost", "alice-secret-1"); !strings.HasPrefix(r, "235") {
		t.Errorf("SMTP AUTH of a local account with the directory down: %q; want 235", r)
	}
	if r := imapLogin(t, "127.0.0.1", imap, "carol@localhost", "carol-secret-1"); !strings.HasPrefix(r, "a NO [UNAVAILABLE]") {
		t.Errorf("IMAP LOGIN with the directory down: %q; want NO [UNAVAILABLE]", r)
	}
	if r := pop3Login(t, "127.0.0.1", srv.Addr["pop3"], "carol@localhost", "carol-secret-1"); !strings.HasPrefix(r, "-ERR [SYS/TEMP]") {
		t.Errorf("POP3 PASS with the directory down: %q; want -ERR [SYS/TEMP]", r)
	}
}

// submitFrom logs in on addr from src and sends one message from `from`
// to `to`; it returns the first reply that is not a success, or the
// reply to the message.
func submitFrom(t *testing.T, src, addr, user, pass, from, to string) string {
	t.Helper()
	c := dialFrom(t, src, addr)
	defer c.close()
	steps := []struct{ cmd, ok string }{
		{"", "220 "}, {"EHLO app.example", "250 "}, {"AUTH PLAIN " + plainIR(user, pass), "235 "},
		{"MAIL FROM:<" + from + ">", "250 "}, {"RCPT TO:<" + to + ">", "250 "}, {"DATA", "354 "},
		{"From: " + from + "\r\nTo: " + to + "\r\nSubject: ldap\r\n\r\nhello\r\n.", ""},
	}
	for _, s := range steps {
		if s.cmd != "" {
			c.send(s.cmd)
		}
		if r := c.smtpReply(); s.ok == "" || !strings.HasPrefix(r, s.ok) {
			return r
		}
	}
	return ""
}

// rcptReply returns the reply to RCPT TO:<rcpt> on an MX listener.
func rcptReply(t *testing.T, addr, rcpt string) string {
	t.Helper()
	c := dialFrom(t, "127.0.0.1", addr)
	defer c.close()
	c.smtpReply()
	c.send("EHLO client.example")
	c.smtpReply()
	c.send("MAIL FROM:<x@sender.example>")
	c.smtpReply()
	c.send("RCPT TO:<" + rcpt + ">")
	return c.smtpReply()
}

// TestLDAPOverTLS logs in over IMAP as the LDAP account with the
// directory reached over ldaps:// and over ldap:// with StartTLS, its
// certificate checked against ca_file: without it the certificate is not
// trusted and the login is refused as temporary.
func TestLDAPOverTLS(t *testing.T) {
	ldapURL, ldapsURL, caFile := startSlapdTLS(t, ldapPeople)
	for _, c := range []struct{ name, url, starttls, ca, want string }{
		{"ldaps", ldapsURL, "false", caFile, "a OK"},
		{"starttls", ldapURL, "true", caFile, "a OK"},
		{"ldaps, CA not given", ldapsURL, "false", "", "a NO [UNAVAILABLE]"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := fmt.Sprintf("auth:\n  delay: 1ms\n  ldap:\n    url: %s\n    starttls: %s\n    base_dn: ou=people,%s\n",
				c.url, c.starttls, ldapSuffix)
			if c.ca != "" {
				cfg += "    ca_file: " + c.ca + "\n"
			}
			srv := startWithListenerKeys(t, mgtest.Options{Protocols: []string{"imap"}, Config: cfg},
				map[string]string{"imap": "allow_insecure_auth: true"})
			if r := imapLogin(t, "127.0.0.1", srv.Addr["imap"], "carol@localhost", "carol-secret-1"); !strings.HasPrefix(r, c.want) {
				t.Errorf("IMAP LOGIN with the directory over %s: %q; want %s", c.name, r, c.want)
			}
		})
	}
}
