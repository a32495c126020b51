package console

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"
)

type domainsData struct {
	Domains []string
	DNSOn   bool
}

func (c *Console) domainList(w http.ResponseWriter, r *http.Request, s *session) {
	d := domainsData{DNSOn: c.opts.DNS != nil}
	if c.opts.Domains != nil {
		d.Domains = c.opts.Domains()
	}
	c.render(w, r, s, http.StatusOK, "domains", d)
}

type domainData struct {
	Domain  string
	Records string
	Checks  []RecordCheck
	Failing int
	Checked bool
	Error   string
}

// domainShow prints the records to publish (DKIM keys included) and,
// with ?check=1, looks each up in DNS now (the dns-records -check code).
func (c *Console) domainShow(w http.ResponseWriter, r *http.Request, s *session) {
	dom := strings.ToLower(r.PathValue("domain"))
	if c.opts.DNS == nil || c.opts.Domains == nil || !slices.ContainsFunc(c.opts.Domains(), func(d string) bool { return strings.EqualFold(d, dom) }) {
		c.fail(w, r, s, http.StatusNotFound, "Not a local domain of this server (local_domains).")
		return
	}
	d := domainData{Domain: dom}
	var err error
	if d.Records, err = c.opts.DNS.Records(dom); err != nil {
		c.internal(w, r, s, "make the DNS records of "+dom, err)
		return
	}
	if r.FormValue("check") != "" {
		ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
		defer cancel()
		d.Checked = true
		d.Checks, err = c.opts.DNS.Check(ctx, dom)
		if err != nil {
			c.log.Warn("console DNS check failed", "domain", dom, "err", err)
			d.Error = "The DNS check could not run; the server log says why."
		}
		for _, rc := range d.Checks {
			if !rc.OK() {
				d.Failing++
			}
		}
	}
	c.render(w, r, s, http.StatusOK, "domain", d)
}

type configData struct {
	Text     string
	Problems []string
}

// configPage shows the running config with secrets hidden, and checks
// the file on disk as `mailgate check-config` would.
func (c *Console) configPage(w http.ResponseWriter, r *http.Request, s *session) {
	if c.opts.Config == nil {
		c.fail(w, r, s, http.StatusNotFound, "No config view on this server.")
		return
	}
	c.render(w, r, s, http.StatusOK, "config", configData{Text: c.opts.Config.Text(), Problems: c.opts.Config.Check()})
}
