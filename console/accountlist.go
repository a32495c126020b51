package console

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// pageSize is how many accounts one page of the list shows.
const pageSize = 100

// maxDirectoryList bounds the directory's accounts one listing reads
// (the directory stops there); a search narrows it.
const maxDirectoryList = 1000

// maxQuery bounds the search text (it goes into the LDAP filter).
const maxQuery = 100

type accountsData struct {
	Accounts []Account
	Query    string
	Page     int
	Pages    int
	Total    int
	// PrevURL and NextURL link the neighbouring pages ("": none).
	PrevURL, NextURL string
	// DirectoryMore: the directory holds more matching accounts than
	// were read; DirectoryDown: it did not answer.
	DirectoryMore, DirectoryDown bool
	DirectoryLimit               int
}

// accountList shows the accounts of accounts.yaml and of the directory
// (LDAP) whose address or alias contains ?q=, sorted, a page at a time.
func (c *Console) accountList(w http.ResponseWriter, r *http.Request, s *session) {
	d := accountsData{Query: strings.TrimSpace(r.URL.Query().Get("q")), DirectoryLimit: maxDirectoryList}
	if len(d.Query) > maxQuery {
		d.Query = strings.ToValidUTF8(d.Query[:maxQuery], "")
	}
	list := c.matchingAccounts(d.Query, &d)
	d.Total = len(list)
	d.Pages = max(1, (len(list)+pageSize-1)/pageSize)
	d.Page, _ = strconv.Atoi(r.URL.Query().Get("page"))
	d.Page = min(max(d.Page, 1), d.Pages)
	from := (d.Page - 1) * pageSize
	d.Accounts = list[from:min(from+pageSize, len(list))]
	if d.Page > 1 {
		d.PrevURL = accountsURL(d.Query, d.Page-1)
	}
	if d.Page < d.Pages {
		d.NextURL = accountsURL(d.Query, d.Page+1)
	}
	c.render(w, r, s, http.StatusOK, "accounts", d)
}

// matchingAccounts merges the two sources; accounts.yaml answers first
// for an address both know, as it does for logins.
func (c *Console) matchingAccounts(q string, d *accountsData) []Account {
	var list []Account
	seen := map[string]bool{}
	for _, a := range c.opts.Accounts.List() {
		if matches(a, q) {
			list = append(list, a)
			seen[strings.ToLower(a.Address)] = true
		}
	}
	if c.opts.Directory != nil {
		dir, more, err := c.opts.Directory.List(q, maxDirectoryList)
		if err != nil {
			c.log.Warn("console: the directory did not list its accounts", "err", err)
		}
		d.DirectoryMore, d.DirectoryDown = more, err != nil
		for _, a := range dir {
			if !seen[strings.ToLower(a.Address)] {
				a.FromDirectory = true
				list = append(list, a)
			}
		}
	}
	slices.SortFunc(list, func(a, b Account) int { return strings.Compare(strings.ToLower(a.Address), strings.ToLower(b.Address)) })
	return list
}

// matches reports whether the account's address or an alias contains q
// (case-insensitive), as the directory's substring filter does.
func matches(a Account, q string) bool {
	q = strings.ToLower(q)
	return strings.Contains(strings.ToLower(a.Address), q) ||
		slices.ContainsFunc(a.Aliases, func(x string) bool { return strings.Contains(strings.ToLower(x), q) })
}

func accountsURL(q string, page int) string {
	v := url.Values{"page": {strconv.Itoa(page)}}
	if q != "" {
		v.Set("q", q)
	}
	return "/admin/accounts?" + v.Encode()
}
