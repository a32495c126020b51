package sieve

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// set assigns a variable, applying modifiers in the order RFC 5229
// section 4.1 gives: case, first-letter case, quoting, length.
func (r *runner) set(c *Node) error {
	name := strings.ToLower(c.args[0].strs[0])
	v := r.str(c.args[1])
	switch c.group["case"] {
	case "lower":
		v = strings.ToLower(v)
	case "upper":
		v = strings.ToUpper(v)
	}
	if first, size := utf8.DecodeRuneInString(v); size > 0 {
		switch c.group["casefirst"] {
		case "lowerfirst":
			v = string(unicode.ToLower(first)) + v[size:]
		case "upperfirst":
			v = string(unicode.ToUpper(first)) + v[size:]
		}
	}
	if c.group["quote"] == "quotewildcard" {
		v = strings.NewReplacer(`*`, `\*`, `?`, `\?`, `\`, `\\`).Replace(v)
	}
	if c.group["length"] != "" {
		v = strconv.Itoa(runeLen(v))
	}
	if len(v) > maxVarLen {
		v = v[:maxVarLen]
	}
	r.vars[name] = v
	return nil
}

// flagCommand runs setflag, addflag and removeflag on the internal flag
// variable or a named one (RFC 5232).
func (r *runner) flagCommand(c *Node) error {
	target := ""
	if c.args[0].kind == argStrings {
		target = strings.ToLower(c.args[0].strs[0])
	}
	cur := r.flags
	if target != "" {
		cur = normFlags([]string{r.vars[target]})
	}
	given := normFlags(r.strs(c.args[1]))
	switch c.Name {
	case "setflag":
		cur = given
	case "addflag":
		cur = mergeFlags(cur, given)
	case "removeflag":
		cur = removeFlags(cur, given)
	}
	if target != "" {
		r.vars[target] = strings.Join(cur, " ")
	} else {
		r.flags = cur
	}
	return nil
}

// normFlags splits space-separated flags and drops repeats
// (case-insensitively, as IMAP compares flags).
func normFlags(list []string) []string {
	out := []string{}
	for _, s := range list {
		out = mergeFlags(out, strings.Fields(s))
	}
	return out
}

func mergeFlags(cur, add []string) []string {
	out := append([]string{}, cur...)
	for _, f := range add {
		if !containsFold(out, f) {
			out = append(out, f)
		}
	}
	return out
}

func removeFlags(cur, drop []string) []string {
	out := []string{}
	for _, f := range cur {
		if !containsFold(drop, f) {
			out = append(out, f)
		}
	}
	return out
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}
