package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"mailgate/internal/mgtest"
)

// ldapMany is ldapPeople plus n generated people, so that the console's
// account list has more than one page.
func ldapMany(n int) string {
	var b strings.Builder
	b.WriteString(ldapPeople)
	for i := range n {
		fmt.Fprintf(&b, "\ndn: uid=p%03d,ou=people,dc=example,dc=com\nobjectClass: inetOrgPerson\nuid: p%03d\ncn: P\nsn: P\nmail: p%03d@localhost\n", i, i, i)
	}
	return b.String()
}

// TestConsoleLDAPAccounts: with auth.ldap on a real slapd, the
// operator's accounts page lists the directory's accounts next to
// accounts.yaml's, marked LDAP, a page of 100 at a time, searchable by
// address or alias; an LDAP account's page is read-only (its password
// and aliases are refused: they are managed in LDAP) but takes API keys;
// the LDAP user logs in to the console by bind and uses the user pages,
// where the password change is refused the same way. With slapd gone
// the page lists accounts.yaml's accounts and says the directory is down.
func TestConsoleLDAPAccounts(t *testing.T) {
	sd, ldapURL := startSlapd(t, ldapMany(120))
	cfg := fmt.Sprintf("auth:\n  ldap:\n    url: %s\n    base_dn: ou=people,%s\n    filter: (|(mail=%%s)(mailLocalAddress=%%s))\n"+
		"    alias_attribute: mailLocalAddress\n    send_as_attribute: carLicense\n", ldapURL, ldapSuffix)
	srv := consoleServer(t, cfg, mgtest.Options{})
	admin := newBrowser(t, "http://"+srv.Addr["http"], nil)
	admin.login(consoleAdmin, consoleAdminPass)

	_, page1, _ := admin.get("/admin/accounts")
	_, page2, _ := admin.get("/admin/accounts?page=2")
	for _, want := range []string{"123 accounts", "page 1 of 2", `href="/admin/accounts/admin@localhost"`, `href="/admin/accounts/carol@localhost"`, `id="next"`} {
		if !strings.Contains(page1, want) {
			t.Errorf("accounts page 1 lacks %q:\n%s", want, page1)
		}
	}
	// Sorted: admin, carol, p000 to p097 on page 1; p098 to p119 and
	// user (accounts.yaml's) on page 2.
	if n := strings.Count(page1, "(LDAP)"); n != 99 {
		t.Errorf("page 1 marks %d accounts LDAP, want 99", n)
	}
	if !strings.Contains(page2, "page 2 of 2") || strings.Count(page2, "(LDAP)") != 22 || !strings.Contains(page2, "p119@localhost") || !strings.Contains(page2, consoleUser) {
		t.Errorf("accounts page 2 (22 LDAP accounts, p119 among them, and user):\n%s", page2)
	}
	for q, want := range map[string]string{"p11": "10 accounts matching", "sales@localhost": "1 account matching", "CAROL": "1 account matching"} {
		if _, found, _ := admin.get("/admin/accounts?q=" + url.QueryEscape(q)); !strings.Contains(found, want) {
			t.Errorf("search %q: want %q:\n%s", q, want, found)
		}
	}

	carolPage := "/admin/accounts/carol@localhost"
	_, body, _ := admin.get(carolPage)
	if !strings.Contains(body, `id="directory-account"`) || !strings.Contains(body, "sales@localhost") || strings.Contains(body, carolPage+`/password"`) {
		t.Errorf("the LDAP account's page is not read-only with its aliases:\n%s", body)
	}
	csrf := admin.csrf(carolPage)
	for _, action := range []string{"password", "update", "disable"} {
		code, body, _ := admin.post(carolPage+"/"+action, url.Values{"csrf": {csrf}, "password": {"a-new-password-1"}, "aliases": {"x@localhost"}})
		if code != http.StatusBadRequest || !strings.Contains(body, "account of the directory (LDAP): change its password, aliases and send-as addresses there") {
			t.Errorf("%s on an LDAP account: %d\n%s", action, code, body)
		}
	}
	if code, _, _ := admin.post(carolPage+"/key", url.Values{"csrf": {csrf}, "name": {"crm"}}); code != http.StatusSeeOther {
		t.Errorf("API key for an LDAP account: %d", code)
	}

	carol := newBrowser(t, "http://"+srv.Addr["http"], nil)
	carol.login("carol@localhost", "carol-secret-1")
	_, me, _ := carol.get("/account/")
	if !strings.Contains(me, `id="directory-managed"`) || !strings.Contains(me, "sales@localhost") || strings.Contains(me, `id="password-form"`) {
		t.Errorf("the LDAP user's page:\n%s", me)
	}
	for _, p := range []string{"/account/sieve", "/account/keys", "/account/setup"} {
		if code, body, _ := carol.get(p); code != http.StatusOK {
			t.Errorf("GET %s as the LDAP user: %d\n%s", p, code, body)
		}
	}
	_, keys, _ := carol.get("/account/keys")
	if !strings.Contains(keys, "crm") {
		t.Errorf("the key the operator made is not on carol's keys page:\n%s", keys)
	}
	code, body, _ := carol.post("/account/password", url.Values{"csrf": {carol.csrf("/account/keys")}, "current": {"carol-secret-1"},
		"password": {"a-new-password-1"}, "again": {"a-new-password-1"}})
	if code != http.StatusBadRequest || !strings.Contains(body, "managed in your organisation") {
		t.Errorf("password change of the LDAP user: %d\n%s", code, body)
	}

	// The same in a real browser: the operator finds carol by search
	// and opens her read-only page.
	ctx := newChromium(t)
	base := "http://" + srv.Addr["http"]
	run(t, ctx, "LDAP account in the browser", loginSteps(base, consoleAdmin, consoleAdminPass, "#queue-size"),
		chromedp.Navigate(base+"/admin/accounts"),
		chromedp.WaitVisible(chromedp.CSS("#q")),
		chromedp.SendKeys(chromedp.CSS("#q"), "carol"),
		clickLoad("#search"),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/admin/accounts/carol@localhost"]`)), shot(t, "ldap-accounts"),
		clickLoad(`a[href="/admin/accounts/carol@localhost"]`),
		chromedp.WaitVisible(chromedp.CSS("#directory-account")), shot(t, "ldap-account"),
	)

	// With the directory down the page still lists accounts.yaml's and
	// says why the others are missing.
	sd.kill()
	_, down, _ := admin.get("/admin/accounts")
	if !strings.Contains(down, `id="directory-down"`) || !strings.Contains(down, "2 accounts;") || strings.Contains(down, "p000@localhost") {
		t.Errorf("accounts page with the directory down:\n%s", down)
	}
}
