package console

import (
	"io/fs"
	"net/http"
)

func (c *Console) routes() {
	m := c.mux
	static, _ := fs.Sub(staticFS, "static")
	m.Handle("GET /console/static/", http.StripPrefix("/console/static/", http.FileServerFS(static)))
	m.HandleFunc("GET /console/login", c.loginPage)
	m.HandleFunc("POST /console/login", c.login)
	m.HandleFunc("POST /console/logout", c.user(c.logout))
	m.HandleFunc("GET /console/{$}", c.user(func(w http.ResponseWriter, r *http.Request, s *session) {
		http.Redirect(w, r, c.home(s.account), http.StatusSeeOther)
	}))

	m.HandleFunc("GET /admin/{$}", c.admin(c.overview))
	m.HandleFunc("GET /admin/messages", c.admin(c.queueList))
	m.HandleFunc("POST /admin/messages/flush", c.admin(c.queueFlushAll))
	m.HandleFunc("GET /admin/messages/{id}", c.admin(c.queueShow))
	m.HandleFunc("POST /admin/messages/{id}/{action}", c.admin(c.queueAction))
	m.HandleFunc("GET /admin/accounts", c.admin(c.accountList))
	m.HandleFunc("POST /admin/accounts", c.admin(c.accountAdd))
	m.HandleFunc("GET /admin/accounts/{addr}", c.admin(c.accountShow))
	m.HandleFunc("POST /admin/accounts/{addr}/{action}", c.admin(c.accountAction))
	m.HandleFunc("GET /admin/domains", c.admin(c.domainList))
	m.HandleFunc("GET /admin/domains/{domain}", c.admin(c.domainShow))
	m.HandleFunc("GET /admin/config", c.admin(c.configPage))

	m.HandleFunc("GET /account/{$}", c.user(c.mePage))
	m.HandleFunc("POST /account/password", c.user(c.mePassword))
	m.HandleFunc("GET /account/sieve", c.user(c.sievePage))
	m.HandleFunc("POST /account/sieve", c.user(c.sieveSave))
	m.HandleFunc("POST /account/vacation", c.user(c.vacationSave))
	m.HandleFunc("POST /account/sieve/{name}/{action}", c.user(c.sieveAction))
	m.HandleFunc("GET /account/keys", c.user(c.keysPage))
	m.HandleFunc("POST /account/keys", c.user(c.keyAdd))
	m.HandleFunc("POST /account/keys/{id}/revoke", c.user(c.keyRevoke))
	m.HandleFunc("GET /account/setup", c.user(c.setupPage))
	m.HandleFunc("GET /account/setup/apple.mobileconfig", c.user(c.appleProfile))
}
