package console

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// refuseTransport says why r may not use the console, or "". Over TLS
// anyone may try to log in. Plain HTTP carries the password in clear, so
// it serves only a browser on this machine that names a loopback host
// (a DNS-rebinding page names its own host and is refused).
func refuseTransport(r *http.Request) string {
	if r.TLS != nil {
		return ""
	}
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return "the web console answers plain HTTP from this machine only; open it over HTTPS on an api listener"
	}
	if !loopbackName(r.Host) {
		return "over plain HTTP the web console must be opened as localhost or a loopback address"
	}
	return ""
}

func loopbackName(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	ip := net.ParseIP(host)
	return strings.EqualFold(host, "localhost") || ip != nil && ip.IsLoopback()
}

// sameOrigin refuses a state change that another site's page started:
// an Origin other than this server, or Sec-Fetch-Site cross-site. Old
// browsers send neither; the CSRF token still guards them.
func sameOrigin(r *http.Request) bool {
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || !strings.EqualFold(u.Host, r.Host) {
			return false
		}
	}
	site := r.Header.Get("Sec-Fetch-Site")
	return site == "" || site == "same-origin" || site == "none"
}

// isAdmin reports whether account is listed in http.admins now.
func (c *Console) isAdmin(account string) bool {
	if c.opts.Admins == nil {
		return false
	}
	return slices.ContainsFunc(c.opts.Admins(), func(a string) bool { return strings.EqualFold(a, account) })
}

// handler is a page that needs a logged-in user.
type handler func(w http.ResponseWriter, r *http.Request, s *session)

// user admits a request with a live session; a POST also needs the
// session's CSRF token and a same-origin request.
func (c *Console) user(h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s := c.sessionOf(r)
		if s == nil {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/console/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			c.fail(w, r, nil, http.StatusForbidden, "Your session has ended; log in again.")
			return
		}
		if r.Method == http.MethodPost && (!sameOrigin(r) || !validCSRF(s, r)) {
			c.fail(w, r, s, http.StatusForbidden, "The form was stale or came from another site (CSRF token missing or wrong); reload the page and try again.")
			return
		}
		h(w, r, s)
	}
}

// admin admits only the accounts in http.admins.
func (c *Console) admin(h handler) http.HandlerFunc {
	return c.user(func(w http.ResponseWriter, r *http.Request, s *session) {
		if !c.isAdmin(s.account) {
			c.fail(w, r, s, http.StatusForbidden, "The operator pages are for the accounts listed in http.admins.")
			return
		}
		h(w, r, s)
	})
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	c.render(w, r, nil, http.StatusOK, "login", loginData{Next: safeNext(r.FormValue("next"))})
}

type loginData struct{ Next, Username string }

// login checks a password with the throttle IMAP uses: a locked-out IP
// or account is refused before the password is hashed, and a wrong
// password counts and is answered after auth.delay.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	user := strings.TrimSpace(r.PostFormValue("username"))
	data := loginData{Next: safeNext(r.PostFormValue("next")), Username: user}
	if !sameOrigin(r) {
		c.render(w, r, nil, http.StatusForbidden, "login", data, "The login form came from another site; open the console's own login page.")
		return
	}
	ip, _, _ := net.SplitHostPort(r.RemoteAddr)
	if c.opts.Logins.Refused(ip, user) {
		c.render(w, r, nil, http.StatusTooManyRequests, "login", data, "Too many failed logins: try again later.")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	account, err := c.opts.Auth.Authenticate(ctx, user, r.PostFormValue("password"))
	if err != nil || user == "" {
		c.opts.Logins.Fail(ip, user)
		c.log.Info("console login failed", "user", clean(user), "ip", ip)
		c.pause(ctx)
		c.render(w, r, nil, http.StatusUnauthorized, "login", data, "Wrong address or password.")
		return
	}
	c.opts.Logins.Succeed(ip, account)
	s := c.sessions.create(account)
	setCookie(w, r, s.id, 0)
	c.log.Info("console login", "account", account, "ip", ip, "admin", c.isAdmin(account))
	next := data.Next
	if next == "" || strings.HasPrefix(next, "/admin/") && !c.isAdmin(account) {
		next = c.home(account)
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (c *Console) pause(ctx context.Context) {
	if c.opts.FailureDelay <= 0 {
		return
	}
	t := time.NewTimer(c.opts.FailureDelay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

func (c *Console) home(account string) string {
	if c.isAdmin(account) {
		return "/admin/"
	}
	return "/account/"
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request, s *session) {
	c.sessions.remove(s.id)
	setCookie(w, r, "", -1)
	http.Redirect(w, r, "/console/login", http.StatusSeeOther)
}

// safeNext keeps a redirect after login on this site's console.
func safeNext(next string) string {
	if (strings.HasPrefix(next, "/admin/") || strings.HasPrefix(next, "/account/")) && !strings.ContainsAny(next, "\\\r\n") {
		return next
	}
	return ""
}

// clean strips control characters from text bound for a log line.
func clean(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}
