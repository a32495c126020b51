package sieve

import (
	"net/mail"
	"strings"
)

var relOps = map[string]bool{"gt": true, "ge": true, "lt": true, "le": true, "eq": true, "ne": true}

// semantics checks what the argument shapes cannot: known comparators
// and operators, valid names and addresses where they are constant.
func (c *checker) semantics(n *Node) *Error {
	if a, ok := n.tags["comparator"]; ok {
		name := strings.ToLower(a.strs[0])
		ext, known := comparators[name]
		if !known {
			return errorf(a.pos, "comparator %q is not supported; use i;ascii-casemap, i;octet or i;ascii-numeric", a.strs[0])
		}
		if ext != "" && !c.caps[ext] {
			return errorf(a.pos, "comparator %q needs require %q", name, ext)
		}
	}
	for _, t := range []string{"count", "value"} {
		if a, ok := n.tags[t]; ok && !relOps[strings.ToLower(a.strs[0])] {
			return errorf(a.pos, "relational operator %q is unknown; use gt, ge, lt, le, eq or ne", a.strs[0])
		}
	}
	switch n.Name {
	case "redirect":
		return c.checkAddress(n.args[0])
	case "fileinto":
		if n.args[0].strs[0] == "" {
			return errorf(n.args[0].pos, "fileinto needs a folder name")
		}
	case "set":
		return checkVarName(n.args[0], false)
	case "setflag", "addflag", "removeflag":
		if n.args[0].kind == argStrings {
			return checkVarName(n.args[0], false)
		}
	case "hasflag":
		if n.args[0].kind == argStrings {
			for _, s := range n.args[0].strs {
				if err := checkVarName(arg{pos: n.args[0].pos, strs: []string{s}}, false); err != nil {
					return err
				}
			}
		}
	case "vacation":
		return c.checkVacation(n)
	case "header", "exists", "address", "envelope":
		return checkHeaderNames(n.args[0])
	}
	return nil
}

func (c *checker) checkAddress(a arg) *Error {
	s := a.strs[0]
	if c.caps["variables"] && strings.Contains(s, "${") {
		return nil // checked when run
	}
	if _, err := mail.ParseAddress(s); err != nil || !strings.Contains(s, "@") {
		return errorf(a.pos, "%q is not a mail address; write local@domain", s)
	}
	return nil
}

func (c *checker) checkVacation(n *Node) *Error {
	if a, ok := n.tags["from"]; ok && !strings.Contains(a.strs[0], "${") {
		if _, err := mail.ParseAddress(a.strs[0]); err != nil {
			return errorf(a.pos, ":from %q is not a mail address", a.strs[0])
		}
	}
	if a, ok := n.tags["addresses"]; ok {
		for _, s := range a.strs {
			if _, err := mail.ParseAddress(s); err != nil && !strings.Contains(s, "${") {
				return errorf(a.pos, ":addresses holds %q, which is not a mail address", s)
			}
		}
	}
	return nil
}

func checkHeaderNames(a arg) *Error {
	for _, s := range a.strs {
		if strings.Contains(s, "${") {
			continue
		}
		if s == "" || strings.ContainsAny(s, ": \t\r\n") {
			return errorf(a.pos, "%q is not a header field name", s)
		}
	}
	return nil
}

// checkVarName accepts identifier names, with dots for namespaces.
func checkVarName(a arg, allowNum bool) *Error {
	name := a.strs[0]
	ok := name != ""
	for _, part := range strings.Split(name, ".") {
		if part == "" || !isAlpha(part[0]) && !(allowNum && isDigit(part[0])) {
			ok = false
		}
		for i := 0; i < len(part); i++ {
			if !isAlpha(part[i]) && !isDigit(part[i]) {
				ok = false
			}
		}
	}
	if !ok {
		return errorf(a.pos, "%q is not a variable name; use letters, digits and _", name)
	}
	return nil
}
