package e2e

import (
	"crypto/tls"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"mailgate/internal/mgtest"
)

// Console test accounts: admin is in http.admins, user is not.
const (
	consoleAdmin     = "admin@localhost"
	consoleAdminPass = "admin-pass-0123"
	consoleUser      = "user@localhost"
	consoleUserPass  = "user-pass-45678"
)

// consoleServer runs mailgate with the web console on its http listener
// (plain HTTP, loopback) and an api listener (HTTPS), admin@localhost as
// operator; extra is appended to the config.
func consoleServer(t *testing.T, extra string, o mgtest.Options) *mgtest.Server {
	t.Helper()
	return mgtest.Start(t, consoleOptions(extra, o))
}

func consoleOptions(extra string, o mgtest.Options) mgtest.Options {
	o.Protocols = append([]string{"smtp", "submission", "http", "api"}, o.Protocols...)
	o.Config = "http:\n  admins: [" + consoleAdmin + "]\n" + extra + o.Config
	if o.Users == nil {
		o.Users = map[string]string{}
	}
	o.Users[consoleAdmin] = consoleAdminPass
	o.Users[consoleUser] = consoleUserPass
	return o
}

// browser is an HTTP client with a cookie jar that does not follow
// redirects, so tests see each answer.
type browser struct {
	t    *testing.T
	base string
	c    *http.Client
}

func newBrowser(t *testing.T, base string, tlsConf *tls.Config) *browser {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 60 * time.Second,
		Transport:     &http.Transport{TLSClientConfig: tlsConf},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return &browser{t: t, base: base, c: c}
}

// get returns the status, body and response of GET path.
func (b *browser) get(path string) (int, string, *http.Response) {
	b.t.Helper()
	req, _ := http.NewRequest("GET", b.base+path, nil)
	return b.do(req)
}

// post sends a form; headers are extra "Name: value" lines.
func (b *browser) post(path string, form url.Values, headers ...string) (int, string, *http.Response) {
	b.t.Helper()
	req, _ := http.NewRequest("POST", b.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	return b.do(req)
}

func (b *browser) do(req *http.Request) (int, string, *http.Response) {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), resp
}

// login logs in and fails the test unless the console takes it.
func (b *browser) login(user, pass string) *http.Response {
	b.t.Helper()
	code, body, resp := b.post("/console/login", url.Values{"username": {user}, "password": {pass}})
	if code != http.StatusSeeOther {
		b.t.Fatalf("login %s: %d\n%s", user, code, body)
	}
	return resp
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf reads the CSRF token from a page of the console.
func (b *browser) csrf(path string) string {
	b.t.Helper()
	code, body, _ := b.get(path)
	m := csrfRE.FindStringSubmatch(body)
	if code != http.StatusOK || m == nil {
		b.t.Fatalf("GET %s: %d, no CSRF token\n%s", path, code, body)
	}
	return m[1]
}
