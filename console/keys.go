package console

import (
	"net/http"
	"strings"
)

// keysOf lists account's API keys (none when keys are off).
func (c *Console) keysOf(account string) []Key {
	if c.opts.Keys == nil {
		return nil
	}
	all, err := c.opts.Keys.List()
	if err != nil {
		c.log.Error("console: API keys not read", "err", err)
		return nil
	}
	var out []Key
	for _, k := range all {
		if strings.EqualFold(k.Account, account) {
			out = append(out, k)
		}
	}
	return out
}

// addKey makes a key for account and keeps its secret in the session
// for the next page only: it is shown once, never stored in clear.
func (c *Console) addKey(s *session, account, name string) (string, error) {
	if c.opts.Keys == nil {
		return "", formError("The HTTP API is not configured on this server.")
	}
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 100 || strings.ContainsAny(name, "\r\n\x00") {
		return "", formError("Give the key a name of 1 to 100 characters (what it is for, such as \"billing app\").")
	}
	k, secret, err := c.opts.Keys.Add(account, name)
	if err != nil {
		c.log.Error("console: API key not added", "account", account, "err", err)
		return "", formError("The key was not made; the server log says why.")
	}
	c.log.Info("console API key added", "by", s.account, "account", account, "key", k.ID)
	c.sessions.setFlash(s, "", secret)
	return "", nil
}

// revokeKey revokes key id only if it belongs to account, so a user can
// revoke only their own keys.
func (c *Console) revokeKey(account, id string) (string, error) {
	for _, k := range c.keysOf(account) {
		if k.ID == id {
			if err := c.opts.Keys.Revoke(id); err != nil {
				return "", formError("The key was not revoked; the server log says why.")
			}
			return "Key " + id + " revoked.", nil
		}
	}
	return "", formError("No such key on this account.")
}

type keysData struct {
	Keys   []Key
	KeysOn bool
}

func (c *Console) keysPage(w http.ResponseWriter, r *http.Request, s *session) {
	c.render(w, r, s, http.StatusOK, "keys", keysData{Keys: c.keysOf(s.account), KeysOn: c.opts.Keys != nil})
}

func (c *Console) keyAdd(w http.ResponseWriter, r *http.Request, s *session) {
	if _, err := c.addKey(s, s.account, r.PostFormValue("name")); err != nil {
		c.fail(w, r, s, http.StatusBadRequest, err.Error())
		return
	}
	http.Redirect(w, r, "/account/keys", http.StatusSeeOther)
}

func (c *Console) keyRevoke(w http.ResponseWriter, r *http.Request, s *session) {
	msg, err := c.revokeKey(s.account, r.PathValue("id"))
	if err != nil {
		c.fail(w, r, s, http.StatusNotFound, err.Error())
		return
	}
	c.done(w, r, s, "/account/keys", msg)
}
