package console

import (
	"context"
	"net"
	"net/http"
	"time"
)

type meData struct {
	Account Account
	Used    int64
	Limit   int64
	Percent int
}

// mePage shows the user's addresses (read only) and quota use, and the
// password form.
func (c *Console) mePage(w http.ResponseWriter, r *http.Request, s *session) {
	acc, _ := c.opts.Accounts.Get(s.account)
	acc.Address = s.account
	d := meData{Account: acc}
	d.Used, d.Limit, _ = c.opts.Accounts.Usage(s.account)
	if d.Limit > 0 {
		d.Percent = int(min(100, d.Used*100/d.Limit))
	}
	c.render(w, r, s, http.StatusOK, "me", d)
}

// mePassword changes the user's own password after checking the current
// one (a session left open on a shared screen cannot take the account);
// the account's other sessions end.
func (c *Console) mePassword(w http.ResponseWriter, r *http.Request, s *session) {
	if acc, _ := c.opts.Accounts.Get(s.account); acc.FromDirectory {
		c.fail(w, r, s, http.StatusBadRequest, "Your password is managed in your organisation's directory (LDAP): change it there.")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	ip, _, _ := net.SplitHostPort(r.RemoteAddr)
	if c.opts.Logins.Refused(ip, s.account) {
		c.fail(w, r, s, http.StatusTooManyRequests, "Too many failed logins: try again later.")
		return
	}
	if _, err := c.opts.Auth.Authenticate(ctx, s.account, r.PostFormValue("current")); err != nil {
		c.opts.Logins.Fail(ip, s.account)
		c.pause(ctx)
		c.fail(w, r, s, http.StatusForbidden, "The current password is wrong; the password was not changed.")
		return
	}
	pw := r.PostFormValue("password")
	if msg := weakPassword(pw); msg != "" {
		c.fail(w, r, s, http.StatusBadRequest, msg)
		return
	}
	if pw != r.PostFormValue("again") {
		c.fail(w, r, s, http.StatusBadRequest, "The two new passwords differ; type the same one twice.")
		return
	}
	if err := c.opts.Accounts.SetPassword(s.account, pw); err != nil {
		c.internal(w, r, s, "change the password", err)
		return
	}
	c.sessions.removeAccount(s.account, s.id)
	c.log.Info("console password changed", "account", s.account)
	c.done(w, r, s, "/account/", "Password changed. Use the new one in your mail programs too.")
}

type setupData struct {
	Account string
	Servers []Server
	Domain  string
	// AppleProfile: the server has what a profile names (IMAP or POP3,
	// and submission).
	AppleProfile bool
}

// setupPage lists the values a mail program needs (the same as the
// autoconfig file) and links the Apple profile.
func (c *Console) setupPage(w http.ResponseWriter, r *http.Request, s *session) {
	d := setupData{Account: s.account, Servers: c.setupServers()}
	_, _, d.AppleProfile = profileServers(d.Servers)
	if c.opts.Domains != nil {
		if ds := c.opts.Domains(); len(ds) > 0 {
			d.Domain = ds[0]
		}
	}
	c.render(w, r, s, http.StatusOK, "setup", d)
}
