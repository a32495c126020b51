package e2e

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"mailgate/internal/mgtest"
)

const wantCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// TestConsoleHeadersAndCookie checks what every console answer carries
// (the strict CSP, no framing, no caching) and the session cookie's
// flags: HttpOnly and SameSite=Strict always, Secure over HTTPS (the api
// listener) and not on plain loopback HTTP, where a browser would not
// send a Secure cookie back.
func TestConsoleHeadersAndCookie(t *testing.T) {
	t.Parallel()
	srv := consoleServer(t, "", mgtest.Options{})
	plain := newBrowser(t, "http://"+srv.Addr["http"], nil)
	_, _, resp := plain.get("/console/login")
	for k, want := range map[string]string{"Content-Security-Policy": wantCSP, "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	cookie := plain.login(consoleAdmin, consoleAdminPass).Header.Get("Set-Cookie")
	for _, want := range []string{"mailgate_console=", "HttpOnly", "SameSite=Strict", "Path=/"} {
		if !strings.Contains(cookie, want) {
			t.Errorf("plain HTTP cookie %q lacks %s", cookie, want)
		}
	}
	if strings.Contains(cookie, "Secure") {
		t.Errorf("plain HTTP cookie %q is Secure: the browser would not send it back", cookie)
	}
	secure := newBrowser(t, "https://"+srv.Hostname+":"+portOf(srv.Addr["api"]), srv.ClientTLS())
	secure.c.Transport.(*http.Transport).DialContext = dialTo(srv.Addr["api"])
	_, _, resp = secure.get("/console/login")
	if resp.Header.Get("Content-Security-Policy") != wantCSP || resp.Header.Get("Strict-Transport-Security") == "" {
		t.Errorf("HTTPS headers: %v", resp.Header)
	}
	cookie = secure.login(consoleAdmin, consoleAdminPass).Header.Get("Set-Cookie")
	for _, want := range []string{"HttpOnly", "SameSite=Strict", "Secure"} {
		if !strings.Contains(cookie, want) {
			t.Errorf("HTTPS cookie %q lacks %s", cookie, want)
		}
	}
	if code, body, _ := secure.get("/admin/"); code != http.StatusOK || !strings.Contains(body, "messages in the queue") {
		t.Errorf("overview over HTTPS: %d\n%s", code, body)
	}
	// A page that names another host (DNS rebinding) gets nothing over
	// plain HTTP.
	req, _ := http.NewRequest("GET", "http://"+srv.Addr["http"]+"/console/login", nil)
	req.Host = "evil.example"
	if code, body, _ := plain.do(req); code != http.StatusForbidden || !strings.Contains(body, "localhost or a loopback address") {
		t.Errorf("rebinding Host: %d %s", code, body)
	}
}

// TestConsoleCSRF: a change without the session's CSRF token, with a
// wrong one, or from another site's page is refused and changes
// nothing; the same form with the token works.
func TestConsoleCSRF(t *testing.T) {
	t.Parallel()
	srv := consoleServer(t, "", mgtest.Options{})
	b := newBrowser(t, "http://"+srv.Addr["http"], nil)
	b.login(consoleAdmin, consoleAdminPass)
	token := b.csrf("/admin/accounts")
	form := func(addr, tok string) url.Values {
		return url.Values{"address": {addr}, "password": {"new-account-pass"}, "csrf": {tok}}
	}
	refused := []struct {
		name    string
		form    url.Values
		headers []string
	}{
		{"no token", form("a1@localhost", ""), nil},
		{"wrong token", form("a2@localhost", token+"x"), nil},
		{"foreign Origin", form("a3@localhost", token), []string{"Origin: http://evil.example"}},
		{"cross-site fetch", form("a4@localhost", token), []string{"Sec-Fetch-Site: cross-site"}},
	}
	for _, tc := range refused {
		code, body, _ := b.post("/admin/accounts", tc.form, tc.headers...)
		if code != http.StatusForbidden || !strings.Contains(body, "CSRF") {
			t.Errorf("%s: %d, want 403 naming CSRF\n%s", tc.name, code, body)
		}
	}
	if code, _, _ := b.post("/admin/accounts", form("ok@localhost", token)); code != http.StatusSeeOther {
		t.Fatalf("with the token: %d", code)
	}
	out, _ := srv.Run("", "user", "list", "-config", srv.ConfigPath)
	if !strings.Contains(out, "ok@localhost") || strings.Contains(out, "a1@") || strings.Contains(out, "a3@") {
		t.Errorf("accounts after the CSRF attempts:\n%s", out)
	}
	// A GET never changes anything.
	if code, _, _ := b.get("/admin/messages/0123456789abcdef/hold"); code != http.StatusMethodNotAllowed && code != http.StatusNotFound {
		t.Errorf("GET of an action: %d", code)
	}
}

// TestConsoleAccessControl: without a session nothing but the login
// page; a user's session reaches /account/ only, never /admin/ nor
// another account's keys.
func TestConsoleAccessControl(t *testing.T) {
	t.Parallel()
	srv := consoleServer(t, "", mgtest.Options{})
	base := "http://" + srv.Addr["http"]
	anon := newBrowser(t, base, nil)
	for _, p := range []string{"/admin/", "/admin/accounts", "/account/", "/account/keys"} {
		code, _, resp := anon.get(p)
		if code != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/console/login") {
			t.Errorf("anonymous GET %s: %d %s", p, code, resp.Header.Get("Location"))
		}
	}
	if code, _, _ := anon.post("/admin/accounts", url.Values{"address": {"x@localhost"}, "password": {"0123456789ab"}}); code != http.StatusForbidden {
		t.Errorf("anonymous POST: %d", code)
	}

	admin := newBrowser(t, base, nil)
	admin.login(consoleAdmin, consoleAdminPass)
	tok := admin.csrf("/account/keys")
	admin.post("/account/keys", url.Values{"name": {"admin key"}, "csrf": {tok}})
	_, body, _ := admin.get("/account/keys")
	keyID := keyIDRE.FindStringSubmatch(body)
	if keyID == nil {
		t.Fatalf("admin's key not listed:\n%s", body)
	}

	user := newBrowser(t, base, nil)
	if loc := user.login(consoleUser, consoleUserPass).Header.Get("Location"); loc != "/account/" {
		t.Errorf("user lands on %q, want /account/", loc)
	}
	for _, p := range []string{"/admin/", "/admin/messages", "/admin/accounts", "/admin/accounts/" + consoleAdmin, "/admin/config", "/admin/domains"} {
		if code, body, _ := user.get(p); code != http.StatusForbidden || !strings.Contains(body, "http.admins") {
			t.Errorf("user GET %s: %d", p, code)
		}
	}
	utok := user.csrf("/account/")
	if code, _, _ := user.post("/admin/accounts", url.Values{"address": {"evil@localhost"}, "password": {"0123456789ab"}, "csrf": {utok}}); code != http.StatusForbidden {
		t.Errorf("user POST /admin/accounts: %d", code)
	}
	if code, _, _ := user.post("/account/keys/"+keyID[1]+"/revoke", url.Values{"csrf": {utok}}); code != http.StatusNotFound {
		t.Errorf("user revoking the admin's key: %d, want 404", code)
	}
	if _, body, _ := admin.get("/account/keys"); !strings.Contains(body, keyID[1]) {
		t.Errorf("the admin's key was revoked by another user")
	}
	// The user's pages show the user's own account only.
	if _, body, _ := user.get("/account/?account=" + consoleAdmin); !strings.Contains(body, consoleUser) || strings.Contains(body, consoleAdmin) {
		t.Errorf("user's page shows another account:\n%s", body)
	}
}

// TestConsoleSessionExpiry: a session ends after http.session_idle
// without a request, and after http.session_lifetime however busy.
func TestConsoleSessionExpiry(t *testing.T) {
	t.Parallel()
	srv := consoleServer(t, "  session_idle: 2s\n  session_lifetime: 6s\n", mgtest.Options{})
	base := "http://" + srv.Addr["http"]
	idle := newBrowser(t, base, nil)
	idle.login(consoleUser, consoleUserPass)
	if code, _, _ := idle.get("/account/"); code != http.StatusOK {
		t.Fatalf("fresh session: %d", code)
	}
	time.Sleep(3 * time.Second)
	if code, _, resp := idle.get("/account/"); code != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/console/login") {
		t.Errorf("after 3s idle: %d %s, want a redirect to the login", code, resp.Header.Get("Location"))
	}

	busy := newBrowser(t, base, nil)
	busy.login(consoleUser, consoleUserPass)
	start := time.Now()
	ended := false
	for time.Since(start) < 30*time.Second {
		code, _, _ := busy.get("/account/")
		if code == http.StatusSeeOther {
			ended = true
			break
		}
		time.Sleep(time.Second)
	}
	if !ended || time.Since(start) < 5*time.Second {
		t.Errorf("busy session ended=%v after %v, want ended after the 6s lifetime", ended, time.Since(start))
	}
}

// TestConsoleLoginThrottle: the console counts failed logins in the
// limiter IMAP uses; past auth.max_failures even the right password is
// refused, on the console and on IMAP.
func TestConsoleLoginThrottle(t *testing.T) {
	t.Parallel()
	o := consoleOptions("auth:\n  max_failures: 3\n  delay: 10ms\n", mgtest.Options{Protocols: []string{"imap"}})
	srv := startWithListenerKeys(t, o, map[string]string{"imap": "allow_insecure_auth: true"})
	if got := imapLogin(t, "127.0.0.1", srv.Addr["imap"], consoleAdmin, consoleAdminPass); !strings.Contains(got, "a OK") {
		t.Fatalf("IMAP login before: %q", got)
	}
	b := newBrowser(t, "http://"+srv.Addr["http"], nil)
	for i := range 3 {
		code, body, _ := b.post("/console/login", url.Values{"username": {consoleUser}, "password": {"wrong"}})
		if code != http.StatusUnauthorized || !strings.Contains(body, "Wrong address or password") {
			t.Fatalf("bad login %d: %d\n%s", i, code, body)
		}
	}
	code, body, _ := b.post("/console/login", url.Values{"username": {consoleUser}, "password": {consoleUserPass}})
	if code != http.StatusTooManyRequests || !strings.Contains(body, "Too many failed logins") {
		t.Errorf("right password after 3 failures: %d\n%s", code, body)
	}
	if got := imapLogin(t, "127.0.0.1", srv.Addr["imap"], consoleUser, consoleUserPass); !strings.Contains(got, "a NO") {
		t.Errorf("IMAP login after console failures: %q, want refused", got)
	}
}

var keyIDRE = regexp.MustCompile(`<tr><td>([0-9a-f]{8})</td>`)

// dialTo makes an HTTP client connect to addr whatever the URL's host,
// so the URL can name the certificate's host (a test never resolves a
// name).
func dialTo(addr string) func(ctx context.Context, network, _ string) (net.Conn, error) {
	return func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
}
