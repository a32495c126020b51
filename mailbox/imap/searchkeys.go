package imap

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	goimap "github.com/emersion/go-imap/v2"
)

// Search keys (RFC 9051 §6.4.4) for the commands the front answers that
// carry them (SORT, THREAD): imapserver's parser is internal to it. The
// result is the same goimap.SearchCriteria that imapserver hands
// session.Search, so both match alike (search.go).

// token is one argument of a command: an atom, a string (quoted or
// literal) or a parenthesis.
type token struct {
	text   string
	str    bool // a quoted string or literal: never a keyword
	paren  byte // '(' or ')'
	offset int  // for error messages: index among the tokens
}

// tokens splits the arguments after the command name (and after "UID"'s
// command, for skip == 2 words) into tokens.
func (c *command) tokens(skip int) ([]token, error) {
	r := &argReader{c: c}
	r.s = c.text[0]
	for i := 0; i <= skip; i++ { // the tag and the command's words
		sp := strings.IndexByte(r.s, ' ')
		if sp < 0 {
			r.s = ""
			break
		}
		r.s = r.s[sp:]
		if i < skip {
			r.s = r.s[1:]
		}
	}
	var out []token
	for {
		r.s = strings.TrimLeft(r.s, " ")
		switch {
		case r.s == "" && r.i < len(r.c.lits):
			out = append(out, token{text: r.c.lits[r.i], str: true})
			r.i++
			r.s = r.c.text[r.i]
		case r.s == "":
			for i := range out {
				out[i].offset = i
			}
			return out, nil
		case r.s[0] == '(' || r.s[0] == ')':
			out = append(out, token{paren: r.s[0]})
			r.s = r.s[1:]
		case r.s[0] == '"':
			q, err := r.quoted()
			if err != nil {
				return nil, err
			}
			out = append(out, token{text: q, str: true})
		default:
			n := strings.IndexAny(r.s, " ()")
			if n < 0 {
				n = len(r.s)
			}
			out = append(out, token{text: r.s[:n]})
			r.s = r.s[n:]
		}
	}
}

// keyParser reads search keys from tokens.
type keyParser struct {
	toks []token
	pos  int
}

func (p *keyParser) next() (token, error) {
	if p.pos >= len(p.toks) {
		return token{}, fmt.Errorf("search key expected at the end of the command")
	}
	p.pos++
	return p.toks[p.pos-1], nil
}

// value reads a key's argument (an astring).
func (p *keyParser) value(key string) (string, error) {
	t, err := p.next()
	if err != nil || t.paren != 0 {
		return "", fmt.Errorf("%s needs an argument", key)
	}
	return t.text, nil
}

// all reads search keys up to the end (or a ')' when nested).
func (p *keyParser) all(nested bool) (goimap.SearchCriteria, error) {
	var c goimap.SearchCriteria
	n := 0
	for p.pos < len(p.toks) {
		if t := p.toks[p.pos]; t.paren == ')' {
			if !nested {
				return c, fmt.Errorf("unexpected ')'")
			}
			break
		}
		k, err := p.key()
		if err != nil {
			return c, err
		}
		c.And(&k)
		andModSeq(&c, &k)
		n++
	}
	if n == 0 {
		return c, fmt.Errorf("search key expected")
	}
	return c, nil
}

// key reads one search key.
func (p *keyParser) key() (goimap.SearchCriteria, error) {
	var c goimap.SearchCriteria
	t, err := p.next()
	if err != nil {
		return c, err
	}
	if t.paren == '(' {
		c, err = p.all(true)
		if err == nil {
			if end, _ := p.next(); end.paren != ')' {
				err = fmt.Errorf("missing ')'")
			}
		}
		return c, err
	}
	if t.paren != 0 || t.str {
		return c, fmt.Errorf("search key expected, not %q", t.text)
	}
	name := strings.ToUpper(t.text)
	if flag, not, ok := flagKey(name); ok {
		if not {
			c.NotFlag = append(c.NotFlag, flag)
		} else {
			c.Flag = append(c.Flag, flag)
		}
		return c, nil
	}
	return p.argKey(name, t.text)
}

// flagKey maps the keys that test one flag.
func flagKey(name string) (goimap.Flag, bool, bool) {
	m := map[string]goimap.Flag{"ANSWERED": goimap.FlagAnswered, "DELETED": goimap.FlagDeleted, "DRAFT": goimap.FlagDraft,
		"FLAGGED": goimap.FlagFlagged, "SEEN": goimap.FlagSeen, "RECENT": `\Recent`}
	if f, ok := m[name]; ok {
		return f, false, true
	}
	if f, ok := m[strings.TrimPrefix(name, "UN")]; ok && strings.HasPrefix(name, "UN") && name != "UNRECENT" {
		return f, true, true
	}
	if name == "OLD" {
		return `\Recent`, true, true
	}
	return "", false, false
}

// argKey reads the keys that take arguments, and the rest.
func (p *keyParser) argKey(name, raw string) (goimap.SearchCriteria, error) {
	var c goimap.SearchCriteria
	switch name {
	case "ALL":
		return c, nil
	case "MODSEQ":
		return p.modseqKey()
	case "NEW":
		c.Flag, c.NotFlag = []goimap.Flag{`\Recent`}, []goimap.Flag{goimap.FlagSeen}
		return c, nil
	case "NOT":
		k, err := p.key()
		c.Not = []goimap.SearchCriteria{k}
		return c, err
	case "OR":
		a, err := p.key()
		if err != nil {
			return c, err
		}
		b, err := p.key()
		c.Or = [][2]goimap.SearchCriteria{{a, b}}
		return c, err
	case "KEYWORD", "UNKEYWORD":
		v, err := p.value(name)
		if name == "KEYWORD" {
			c.Flag = []goimap.Flag{goimap.Flag(v)}
		} else {
			c.NotFlag = []goimap.Flag{goimap.Flag(v)}
		}
		return c, err
	case "BCC", "CC", "FROM", "SUBJECT", "TO":
		v, err := p.value(name)
		field := map[string]string{"BCC": "Bcc", "CC": "Cc", "FROM": "From", "SUBJECT": "Subject", "TO": "To"}[name]
		c.Header = []goimap.SearchCriteriaHeaderField{{Key: field, Value: v}}
		return c, err
	case "HEADER":
		f, err := p.value(name)
		if err != nil {
			return c, err
		}
		v, err := p.value(name)
		c.Header = []goimap.SearchCriteriaHeaderField{{Key: f, Value: v}}
		return c, err
	case "BODY", "TEXT":
		v, err := p.value(name)
		if name == "BODY" {
			c.Body = []string{v}
		} else {
			c.Text = []string{v}
		}
		return c, err
	case "LARGER", "SMALLER":
		v, err := p.value(name)
		if err != nil {
			return c, err
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return c, fmt.Errorf("%s needs a number of octets, not %q", name, v)
		}
		if name == "LARGER" {
			c.Larger = n
		} else {
			c.Smaller = n
		}
		return c, nil
	case "UID":
		v, err := p.value(name)
		if err != nil {
			return c, err
		}
		if v == "$" {
			c.UID = []goimap.UIDSet{goimap.SearchRes()}
			return c, nil
		}
		ranges, err := parseNumSet(v)
		if err != nil {
			return c, fmt.Errorf("UID needs a set of UIDs, not %q", v)
		}
		var set goimap.UIDSet
		for _, r := range ranges {
			set.AddRange(goimap.UID(r[0]), goimap.UID(r[1]))
		}
		c.UID = []goimap.UIDSet{set}
		return c, nil
	}
	return p.dateOrSet(name, raw)
}

// dateOrSet reads the date keys and a bare sequence set.
func (p *keyParser) dateOrSet(name, raw string) (goimap.SearchCriteria, error) {
	var c goimap.SearchCriteria
	switch name {
	case "BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE":
		v, err := p.value(name)
		if err != nil {
			return c, err
		}
		d, err := time.Parse("2-Jan-2006", v)
		if err != nil {
			return c, fmt.Errorf("%s needs a date such as 1-Feb-2024, not %q", name, v)
		}
		next := d.AddDate(0, 0, 1)
		switch name {
		case "BEFORE":
			c.Before = d
		case "ON":
			c.Since, c.Before = d, next
		case "SINCE":
			c.Since = d
		case "SENTBEFORE":
			c.SentBefore = d
		case "SENTON":
			c.SentSince, c.SentBefore = d, next
		case "SENTSINCE":
			c.SentSince = d
		}
		return c, nil
	}
	if raw == "$" {
		c.UID = []goimap.UIDSet{goimap.SearchRes()}
		return c, nil
	}
	ranges, err := parseNumSet(raw)
	if err != nil {
		return c, fmt.Errorf("unknown search key %q", raw)
	}
	var set goimap.SeqSet
	for _, r := range ranges {
		set.AddRange(r[0], r[1])
	}
	c.SeqNum = []goimap.SeqSet{set}
	return c, nil
}

// parseNumSet parses a sequence set ("1:3,5,7:*"); 0 stands for "*".
func parseNumSet(s string) ([][2]uint32, error) {
	var out [][2]uint32
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, ":")
		a, err := parseSetNum(lo)
		if err != nil {
			return nil, err
		}
		b := a
		if isRange {
			if b, err = parseSetNum(hi); err != nil {
				return nil, err
			}
		}
		out = append(out, [2]uint32{a, b})
	}
	return out, nil
}

func parseSetNum(s string) (uint32, error) {
	if s == "*" {
		return 0, nil
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n == 0 || s[0] == '+' {
		return 0, fmt.Errorf("bad number %q", s)
	}
	return uint32(n), nil
}
