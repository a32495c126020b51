package accounts

import "strings"

// maxForwardDepth bounds alias expansion, so a loop of forwards ends.
const maxForwardDepth = 8

// SplitAddress splits local@domain, lower-casing the domain.
func SplitAddress(addr string) (local, domain string) {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return addr, ""
	}
	return addr[:i], strings.ToLower(addr[i+1:])
}

// baseLocal strips a "+tag" subaddress: "Alice+Lists" -> "alice", "Lists".
// The base is lower-cased for the account lookup; the tag keeps its case,
// since it names a folder (Store.Deliver matches it to one).
func baseLocal(local string) (base, tag string) {
	base, tag, _ = strings.Cut(local, "+")
	return strings.ToLower(base), tag
}

// Expand resolves a recipient in a local domain to its final targets:
// account addresses (keeping a +tag) and remote addresses from forwards.
// ok is false when nothing here takes mail for addr. isLocal says whether
// a domain is one of ours, for forwards that point back into them.
func (a *Accounts) Expand(addr string, isLocal func(domain string) bool) (targets []string, ok bool) {
	a.refresh()
	a.mu.RLock()
	defer a.mu.RUnlock()
	seen := map[string]bool{}
	targets = a.expand(addr, isLocal, seen, 0)
	return targets, len(targets) > 0
}

func (a *Accounts) expand(addr string, isLocal func(string) bool, seen map[string]bool, depth int) []string {
	local, domain := SplitAddress(addr)
	key := strings.ToLower(local) + "@" + domain
	if seen[key] || depth > maxForwardDepth {
		return nil
	}
	seen[key] = true
	if !isLocal(domain) {
		return []string{addr}
	}
	if fw, ok := a.file.Forwards[key]; ok {
		return a.expandAll(fw, isLocal, seen, depth)
	}
	base, tag := baseLocal(local)
	if acc := a.find(base + "@" + domain); acc != nil {
		if tag != "" {
			l, d := SplitAddress(acc.Address)
			return []string{l + "+" + tag + "@" + d}
		}
		return []string{acc.Address}
	}
	if fw, ok := a.file.Forwards[base+"@"+domain]; ok {
		return a.expandAll(fw, isLocal, seen, depth)
	}
	ca, ok := a.file.CatchAll[domain]
	if !ok {
		ca, ok = a.catchAll[domain]
	}
	if ok && !seen[strings.ToLower(ca)] {
		return a.expand(ca, isLocal, seen, depth+1)
	}
	return nil
}

func (a *Accounts) expandAll(list []string, isLocal func(string) bool, seen map[string]bool, depth int) []string {
	var out []string
	for _, t := range list {
		out = append(out, a.expand(t, isLocal, seen, depth+1)...)
	}
	return out
}

// Lookup maps a target from Expand to the account that stores it and the
// folder a +tag names ("" for INBOX). It is what local delivery calls.
func (a *Accounts) Lookup(addr string) (account, folder string, ok bool) {
	local, domain := SplitAddress(addr)
	base, tag := baseLocal(local)
	acc, found := a.Get(base + "@" + domain)
	if !found {
		return "", "", false
	}
	return acc.Address, tag, true
}
