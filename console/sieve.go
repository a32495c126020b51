package console

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// vacationScript is the name of the script the vacation form writes.
const vacationScript = "vacation"

type sieveData struct {
	On      bool
	Scripts []Script
	Edit    string // name of the script in the editor
	Source  string
}

func (c *Console) sievePage(w http.ResponseWriter, r *http.Request, s *session) {
	d := sieveData{On: c.opts.Sieve != nil}
	if d.On {
		var err error
		if d.Scripts, err = c.opts.Sieve.List(s.account); err != nil {
			c.internal(w, r, s, "list your Sieve scripts", err)
			return
		}
		d.Edit = r.FormValue("edit")
		if d.Edit != "" {
			src, err := c.opts.Sieve.Get(s.account, d.Edit)
			if err != nil {
				c.fail(w, r, s, http.StatusNotFound, "No such script.")
				return
			}
			d.Source = string(src)
		}
	}
	c.render(w, r, s, http.StatusOK, "sieve", d)
}

// sieveSave stores a script typed in the editor (checked first: a broken
// script is refused with its line:column problem) and, if asked, makes it
// the active one.
func (c *Console) sieveSave(w http.ResponseWriter, r *http.Request, s *session) {
	if c.opts.Sieve == nil {
		c.fail(w, r, s, http.StatusNotFound, "Sieve is not available on this server.")
		return
	}
	name := strings.TrimSpace(r.PostFormValue("name"))
	src := strings.ReplaceAll(r.PostFormValue("script"), "\r\n", "\n")
	if err := c.putScript(s.account, name, []byte(src), r.PostFormValue("activate") != ""); err != nil {
		c.fail(w, r, s, http.StatusBadRequest, "Script "+strconv.Quote(name)+" not saved: "+err.Error())
		return
	}
	c.done(w, r, s, "/account/sieve", "Script "+name+" saved.")
}

func (c *Console) putScript(account, name string, src []byte, activate bool) error {
	if err := c.opts.Sieve.Put(account, name, src); err != nil {
		return err
	}
	if activate {
		return c.opts.Sieve.SetActive(account, name)
	}
	return nil
}

// vacationSave writes the vacation form as a Sieve script and makes it
// active (turning off another active script), or turns it off.
func (c *Console) vacationSave(w http.ResponseWriter, r *http.Request, s *session) {
	if c.opts.Sieve == nil {
		c.fail(w, r, s, http.StatusNotFound, "Sieve is not available on this server.")
		return
	}
	if r.PostFormValue("off") != "" {
		if err := c.opts.Sieve.SetActive(s.account, ""); err != nil {
			c.internal(w, r, s, "turn the filter off", err)
			return
		}
		c.done(w, r, s, "/account/sieve", "Vacation reply off (no script is active).")
		return
	}
	days, err := strconv.Atoi(strings.TrimSpace(r.PostFormValue("days")))
	if err != nil || days < 1 || days > 365 {
		c.fail(w, r, s, http.StatusBadRequest, "Days must be a number from 1 to 365: how long to wait before answering the same sender again.")
		return
	}
	subject, body := r.PostFormValue("subject"), strings.ReplaceAll(r.PostFormValue("message"), "\r\n", "\n")
	if strings.TrimSpace(body) == "" {
		c.fail(w, r, s, http.StatusBadRequest, "Write the message your correspondents get.")
		return
	}
	src := vacationSource(days, subject, body)
	if err := c.putScript(s.account, vacationScript, []byte(src), true); err != nil {
		c.fail(w, r, s, http.StatusBadRequest, "Vacation reply not saved: "+err.Error())
		return
	}
	c.log.Info("console vacation on", "account", s.account, "days", days)
	c.done(w, r, s, "/account/sieve", "Vacation reply on.")
}

// vacationSource is the RFC 5230 script for the form.
func vacationSource(days int, subject, body string) string {
	var b strings.Builder
	b.WriteString("# written by the web console's vacation form\nrequire [\"vacation\"];\n")
	fmt.Fprintf(&b, "vacation :days %d", days)
	if subject = strings.TrimSpace(strings.ReplaceAll(subject, "\n", " ")); subject != "" {
		fmt.Fprintf(&b, " :subject %s", sieveString(subject))
	}
	fmt.Fprintf(&b, " %s;\n", sieveString(body))
	return b.String()
}

// sieveString quotes s as a Sieve quoted string (RFC 5228 2.4.2).
func sieveString(s string) string {
	s = strings.ReplaceAll(s, `\`, `\\`)
	s = strings.ReplaceAll(s, `"`, `\"`)
	return `"` + strings.ReplaceAll(s, "\n", "\r\n") + `"`
}

// sieveAction activates, deactivates or deletes one script.
func (c *Console) sieveAction(w http.ResponseWriter, r *http.Request, s *session) {
	if c.opts.Sieve == nil {
		c.fail(w, r, s, http.StatusNotFound, "Sieve is not available on this server.")
		return
	}
	name := r.PathValue("name")
	var err error
	switch r.PathValue("action") {
	case "activate":
		err = c.opts.Sieve.SetActive(s.account, name)
	case "deactivate":
		err = c.opts.Sieve.SetActive(s.account, "")
	case "delete":
		err = c.opts.Sieve.Delete(s.account, name)
	default:
		c.fail(w, r, s, http.StatusNotFound, "Unknown action; use activate, deactivate or delete.")
		return
	}
	if err != nil {
		c.fail(w, r, s, http.StatusBadRequest, "Script "+strconv.Quote(name)+": "+err.Error())
		return
	}
	c.done(w, r, s, "/account/sieve", "Script "+name+": done.")
}
