package console

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// accountAdd creates an account with the password the operator typed.
func (c *Console) accountAdd(w http.ResponseWriter, r *http.Request, s *session) {
	addr := strings.TrimSpace(r.PostFormValue("address"))
	pw := r.PostFormValue("password")
	if msg := weakPassword(pw); msg != "" {
		c.fail(w, r, s, http.StatusBadRequest, msg)
		return
	}
	if err := c.opts.Accounts.Add(addr, pw); err != nil {
		c.fail(w, r, s, http.StatusBadRequest, "Account not added: "+userError(err))
		return
	}
	c.log.Info("console account added", "by", s.account, "account", clean(addr))
	c.done(w, r, s, "/admin/accounts/"+url.PathEscape(addr), "Account "+addr+" added.")
}

type accountData struct {
	Account   Account
	Used      int64
	Limit     int64
	Keys      []Key
	KeysOn    bool
	QuotaText string
}

func (c *Console) accountShow(w http.ResponseWriter, r *http.Request, s *session) {
	acc, ok := c.opts.Accounts.Get(r.PathValue("addr"))
	if !ok {
		c.fail(w, r, s, http.StatusNotFound, "No such account.")
		return
	}
	d := accountData{Account: acc, KeysOn: c.opts.Keys != nil}
	d.Used, d.Limit, _ = c.opts.Accounts.Usage(acc.Address)
	if acc.Quota > 0 {
		d.QuotaText = strconv.FormatInt(acc.Quota, 10)
	}
	d.Keys = c.keysOf(acc.Address)
	c.render(w, r, s, http.StatusOK, "account_edit", d)
}

// accountAction changes one account: password, disable, enable, update
// (aliases, send-as, quota), key (a new API key), revoke.
func (c *Console) accountAction(w http.ResponseWriter, r *http.Request, s *session) {
	acc, ok := c.opts.Accounts.Get(r.PathValue("addr"))
	if !ok {
		c.fail(w, r, s, http.StatusNotFound, "No such account.")
		return
	}
	addr := acc.Address
	back := "/admin/accounts/" + url.PathEscape(addr)
	action := r.PathValue("action")
	if acc.FromDirectory && action != "key" && action != "revoke" {
		c.fail(w, r, s, http.StatusBadRequest, addr+" is an account of the directory (LDAP): change its password, aliases and send-as addresses there.")
		return
	}
	msg, err := c.changeAccount(r, s, addr, action)
	if err != nil {
		c.fail(w, r, s, http.StatusBadRequest, err.Error())
		return
	}
	c.log.Info("console account changed", "by", s.account, "account", addr, "action", action)
	c.done(w, r, s, back, msg)
}

// formError is a refusal the user can act on; its text is shown.
type formError string

func (e formError) Error() string { return string(e) }

func (c *Console) changeAccount(r *http.Request, s *session, addr, action string) (string, error) {
	a := c.opts.Accounts
	switch action {
	case "password":
		pw := r.PostFormValue("password")
		if msg := weakPassword(pw); msg != "" {
			return "", formError(msg)
		}
		if err := a.SetPassword(addr, pw); err != nil {
			return "", formError("Password not changed: " + userError(err))
		}
		c.sessions.removeAccount(addr, s.id)
		return "Password of " + addr + " reset; its sessions were ended.", nil
	case "disable", "enable":
		if err := a.SetDisabled(addr, action == "disable"); err != nil {
			return "", formError("Not changed: " + userError(err))
		}
		if action == "disable" {
			c.sessions.removeAccount(addr, "")
		}
		return addr + ": logins " + map[string]string{"disable": "disabled", "enable": "enabled"}[action] + ".", nil
	case "update":
		return c.updateAccount(r, addr)
	case "key":
		return c.addKey(s, addr, r.PostFormValue("name"))
	case "revoke":
		return c.revokeKey(addr, r.PostFormValue("id"))
	}
	return "", formError("Unknown change; use the buttons of the account page.")
}

// updateAccount sets aliases, send-as (one a line or comma-separated)
// and the quota in bytes (empty: the default).
func (c *Console) updateAccount(r *http.Request, addr string) (string, error) {
	quota := int64(0)
	if q := strings.TrimSpace(r.PostFormValue("quota")); q != "" {
		n, err := parseSize(q)
		if err != nil {
			return "", formError("Quota " + strconv.Quote(q) + " is not a size; write bytes or a size such as 500MB or 2GB, or leave it empty for the default.")
		}
		quota = n
	}
	aliases, sendAs := splitList(r.PostFormValue("aliases")), splitList(r.PostFormValue("send_as"))
	if err := c.opts.Accounts.Update(addr, aliases, sendAs, quota); err != nil {
		return "", formError("Not changed: " + userError(err))
	}
	return addr + ": aliases, send-as and quota saved.", nil
}

// splitList reads addresses one a line or separated by commas or
// spaces; never nil, so an empty field clears the list.
func splitList(s string) []string {
	out := []string{}
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t' }) {
		out = append(out, f)
	}
	return out
}

// parseSize reads 1234, 500KB, 20MB, 2GB.
func parseSize(s string) (int64, error) {
	mult := int64(1)
	u := strings.ToUpper(s)
	for _, suf := range []struct {
		s string
		m int64
	}{{"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}, {"B", 1}} {
		if strings.HasSuffix(u, suf.s) {
			mult, u = suf.m, strings.TrimSpace(strings.TrimSuffix(u, suf.s))
			break
		}
	}
	n, err := strconv.ParseInt(u, 10, 64)
	if err != nil || n < 0 || n > 1<<50/mult {
		return 0, formError("bad size")
	}
	return n * mult, nil
}

// weakPassword says why a new password is refused, or "".
func weakPassword(pw string) string {
	switch {
	case len(pw) < 10:
		return "The password is too short: use at least 10 characters."
	case len(pw) > 1024:
		return "The password is too long: use at most 1024 characters."
	case strings.ContainsAny(pw, "\r\n\x00"):
		return "The password may not contain line breaks or NUL."
	}
	return ""
}

// userError shows the accounts database's refusals, which say what to
// fix (address syntax, already exists), without internal detail.
func userError(err error) string {
	msg := err.Error()
	if strings.ContainsAny(msg, "/\\") && !strings.Contains(msg, "@") {
		return "the server could not save it; its log says why"
	}
	return msg
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}
