package sieve

import (
	"net/mail"
	"strconv"
	"strings"
)

func (r *runner) test(t *Node) (bool, error) {
	if err := r.step(t.Pos); err != nil {
		return false, err
	}
	switch t.Name {
	case "true":
		return true, nil
	case "false":
		return false, nil
	case "not":
		ok, err := r.test(t.tests[0])
		return !ok, err
	case "allof", "anyof":
		return r.list(t)
	case "size":
		if t.has("over") {
			return int64(r.msg.Size()) > t.args[0].num, nil
		}
		return int64(r.msg.Size()) < t.args[0].num, nil
	case "exists":
		for _, h := range r.strs(t.args[0]) {
			if len(r.msg.rawHeader(h)) == 0 {
				return false, nil
			}
		}
		return true, nil
	case "mailboxexists":
		return r.mailboxesExist(r.strs(t.args[0])), nil
	}
	values, err := r.values(t)
	if err != nil {
		return false, err
	}
	return r.match(t, values, r.strs(t.args[len(t.args)-1]))
}

// list evaluates allof/anyof, stopping at the first answer that decides.
func (r *runner) list(t *Node) (bool, error) {
	want := t.Name == "anyof"
	for _, sub := range t.tests {
		ok, err := r.test(sub)
		if err != nil || ok == want {
			return want, err
		}
	}
	return !want, nil
}

func (r *runner) mailboxesExist(names []string) bool {
	for _, n := range names {
		exists := strings.EqualFold(n, "INBOX")
		if r.opt.MailboxExists != nil {
			exists = r.opt.MailboxExists(n)
		}
		if !exists {
			return false
		}
	}
	return true
}

// values gathers what a comparing test compares against its keys.
func (r *runner) values(t *Node) ([]string, error) {
	switch t.Name {
	case "header":
		var out []string
		for _, h := range r.strs(t.args[0]) {
			out = append(out, r.msg.Header(h)...)
		}
		return out, nil
	case "address":
		var out []string
		for _, h := range r.strs(t.args[0]) {
			for _, v := range r.msg.rawHeader(h) {
				out = append(out, r.addressParts(t, parseAddresses(v))...)
			}
		}
		return out, nil
	case "envelope":
		return r.envelopeValues(t), nil
	case "body":
		var types []string
		if a, ok := t.tags["content"]; ok {
			types = r.strs(a)
		}
		return r.msg.bodyTexts(t.group["transform"], types), nil
	case "string":
		return r.strs(t.args[0]), nil
	case "hasflag":
		return r.flagValues(t), nil
	}
	return nil, r.fail(t.Pos, "test "+t.Name+" cannot run here")
}

func (r *runner) envelopeValues(t *Node) []string {
	var out []string
	for _, part := range r.strs(t.args[0]) {
		switch strings.ToLower(part) {
		case "from":
			out = append(out, r.addressParts(t, []string{r.opt.Envelope.From})...)
		case "to":
			out = append(out, r.addressParts(t, []string{r.opt.Envelope.To})...)
		}
	}
	return out
}

func (r *runner) flagValues(t *Node) []string {
	if t.args[0].kind != argStrings {
		return r.flags
	}
	var out []string
	for _, v := range r.strs(t.args[0]) {
		out = append(out, normFlags([]string{r.vars[strings.ToLower(v)]})...)
	}
	return out
}

// parseAddresses reads the addr-specs of an address header; a field that
// does not parse is taken piece by piece, then as it is.
func parseAddresses(v string) []string {
	if list, err := mail.ParseAddressList(v); err == nil {
		out := make([]string, len(list))
		for i, a := range list {
			out[i] = a.Address
		}
		return out
	}
	var out []string
	for _, piece := range strings.Split(v, ",") {
		if a, err := mail.ParseAddress(piece); err == nil {
			out = append(out, a.Address)
		} else if s := strings.Trim(strings.TrimSpace(piece), "<>"); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// addressParts picks :all, :localpart, :domain, :user or :detail of each
// address; an address without a detail has no :detail (RFC 5233).
func (r *runner) addressParts(t *Node, addrs []string) []string {
	out := make([]string, 0, len(addrs))
	for _, a := range addrs {
		local, domain := a, ""
		if i := strings.LastIndexByte(a, '@'); i >= 0 {
			local, domain = a[:i], a[i+1:]
		}
		user, detail, hasDetail := strings.Cut(local, "+")
		switch t.group["part"] {
		case "localpart":
			out = append(out, local)
		case "domain":
			out = append(out, domain)
		case "user":
			out = append(out, user)
		case "detail":
			if hasDetail {
				out = append(out, detail)
			}
		default:
			out = append(out, a)
		}
	}
	return out
}

// match applies the match type and comparator of t (RFC 5228 section
// 2.7, RFC 5231) to values and keys; a :matches success sets the match
// variables.
func (r *runner) match(t *Node, values, keys []string) (bool, error) {
	cmp := defaultComp
	if a, ok := t.tags["comparator"]; ok {
		cmp = comparator(strings.ToLower(a.strs[0]))
	}
	mt := t.group["match"]
	if mt == "count" {
		op := strings.ToLower(t.tags["count"].strs[0])
		n := strconv.Itoa(len(values))
		for _, k := range keys {
			if relation(op, cmp.compare(n, k)) {
				return true, nil
			}
		}
		return false, nil
	}
	for _, v := range values {
		// Long values cost steps by their length, so the step limit bounds
		// the bytes compared in a run.
		r.steps += len(v) >> 10
		for _, k := range keys {
			if err := r.step(t.Pos); err != nil {
				return false, err
			}
			if mt == "matches" && len(k)*len(v) > maxGlobWork {
				return false, r.fail(t.Pos, ":matches pattern and value are too long to compare")
			}
			if r.matchOne(t, mt, cmp, v, k) {
				return true, nil
			}
		}
	}
	return false, nil
}

func (r *runner) matchOne(t *Node, mt string, cmp comparator, v, k string) bool {
	switch mt {
	case "contains":
		return strings.Contains(cmp.fold(v), cmp.fold(k))
	case "matches":
		ok, caps := glob(cmp, k, v)
		if ok && r.s.caps["variables"] {
			r.matchVars = append([]string{v}, caps...)
		}
		return ok
	case "value":
		return relation(strings.ToLower(t.tags["value"].strs[0]), cmp.compare(v, k))
	}
	return cmp.compare(v, k) == 0
}
