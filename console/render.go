package console

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"time"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// pages are the parsed templates, one set per page, each with the
// layout.
type pages struct{ byName map[string]*template.Template }

var funcs = template.FuncMap{
	"bytes": humanBytes,
	"when":  func(t time.Time) string { return whenText(t) },
	"join":  strings.Join,
	"count": func(n int, what string) string { return plural(n, what) },
	"ago":   func(t time.Time) string { return Age(time.Since(t)) },
}

func parsePages() (*pages, error) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	p := &pages{byName: map[string]*template.Template{}}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", n)
		if err != nil {
			return nil, err
		}
		p.byName[base] = t
	}
	return p, nil
}

// view is what every page template gets.
type view struct {
	Title   string
	Account string
	Admin   bool
	CSRF    string
	Flash   string
	Secret  string
	Error   string
	Data    any
}

// render writes page name; errMsg, if given, is shown as the error.
func (c *Console) render(w http.ResponseWriter, r *http.Request, s *session, code int, name string, data any, errMsg ...string) {
	v := view{Title: titles[name], Data: data}
	if len(errMsg) > 0 {
		v.Error = errMsg[0]
	}
	if s != nil {
		v.Account, v.Admin, v.CSRF = s.account, c.isAdmin(s.account), s.csrf
		v.Flash, v.Secret = c.sessions.takeFlash(s)
	}
	var buf bytes.Buffer
	if err := c.pages.byName[name].Execute(&buf, v); err != nil {
		c.log.Error("console page failed", "page", name, "err", err)
		http.Error(w, "internal error; the server log says more", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	w.Write(buf.Bytes())
}

var titles = map[string]string{
	"login": "Log in", "error": "Refused", "overview": "Overview", "queue": "Queue", "message": "Queued message",
	"accounts": "Accounts", "account_edit": "Account", "domains": "Domains", "domain": "DNS records", "config": "Config",
	"me": "My account", "sieve": "Filters and vacation", "keys": "API keys", "setup": "Client set-up",
}

// fail shows an error page with code.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, s *session, code int, msg string) {
	c.render(w, r, s, code, "error", nil, msg)
}

// done sets a message for the next page and sends the browser there
// (POST, redirect, GET: a reload does not repeat the change).
func (c *Console) done(w http.ResponseWriter, r *http.Request, s *session, to, msg string) {
	c.sessions.setFlash(s, msg, "")
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// internal logs err and tells the user only that it happened.
func (c *Console) internal(w http.ResponseWriter, r *http.Request, s *session, what string, err error) {
	c.log.Error("console: "+what, "account", s.account, "err", err)
	c.fail(w, r, s, http.StatusInternalServerError, "Could not "+what+"; the server log says why.")
}

func humanBytes(n int64) string {
	switch {
	case n < 0:
		return "unknown"
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func whenText(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// Age is a short age (45s, 12m, 30h, 6d), as the console and
// `mailgate queue list` show it.
func Age(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}
