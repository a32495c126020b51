package sieve

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// comparator folds and orders strings (RFC 4790).
type comparator string

const (
	cmpOctet    comparator = "i;octet"
	cmpCasemap  comparator = "i;ascii-casemap"
	cmpNumeric  comparator = "i;ascii-numeric"
	defaultComp            = cmpCasemap
)

func (c comparator) fold(s string) string {
	if c == cmpCasemap {
		return asciiLower(s)
	}
	return s
}

func asciiLower(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'A' && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, s)
}

// numeric is the value of i;ascii-numeric: leading digits, or infinity
// (ok false) when there are none.
func numeric(s string) (n uint64, ok bool) {
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	if i == 0 {
		return 0, false
	}
	digits := strings.TrimLeft(s[:i], "0")
	if digits == "" {
		return 0, true
	}
	v, err := strconv.ParseUint(digits, 10, 64)
	if err != nil {
		return ^uint64(0), true // too large: the largest value
	}
	return v, true
}

// compare orders a and b: -1, 0 or 1.
func (c comparator) compare(a, b string) int {
	if c == cmpNumeric {
		x, okx := numeric(a)
		y, oky := numeric(b)
		switch {
		case !okx && !oky:
			return 0
		case !okx:
			return 1
		case !oky:
			return -1
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	}
	return strings.Compare(c.fold(a), c.fold(b))
}

func relation(op string, cmp int) bool {
	switch op {
	case "gt":
		return cmp > 0
	case "ge":
		return cmp >= 0
	case "lt":
		return cmp < 0
	case "le":
		return cmp <= 0
	case "eq":
		return cmp == 0
	case "ne":
		return cmp != 0
	}
	return false
}

// glob matches s against a :matches pattern, where * is any run of
// characters, ? is one character and \ quotes the next. Each wildcard
// matches as little as it can, leftmost first (RFC 5229 section 3.2);
// the captures are what each wildcard matched, in order.
func glob(c comparator, pattern, s string) (bool, []string) {
	segs := splitPattern(c.fold(pattern))
	str := []rune(s)
	folded := []rune(c.fold(s))
	if len(folded) != len(str) {
		folded = str
	}
	var caps []string
	// The first segment is anchored at the start, the last at the end.
	first := segs[0]
	if !first.at(folded, 0) {
		return false, nil
	}
	caps = append(caps, first.captures(str, 0)...)
	pos := len(first)
	if len(segs) == 1 {
		return pos == len(str), caps
	}
	last := segs[len(segs)-1]
	end := len(str) - len(last)
	if end < pos || !last.at(folded, end) {
		return false, nil
	}
	for _, seg := range segs[1 : len(segs)-1] {
		i := seg.find(folded, pos, end)
		if i < 0 {
			return false, nil
		}
		caps = append(caps, string(str[pos:i]))
		caps = append(caps, seg.captures(str, i)...)
		pos = i + len(seg)
	}
	caps = append(caps, string(str[pos:end]))
	return true, append(caps, last.captures(str, end)...)
}

// segment is the literal runes and ? wildcards between two stars; -1
// stands for ?.
type segment []rune

func splitPattern(p string) []segment {
	segs := []segment{{}}
	rs := []rune(p)
	for i := 0; i < len(rs); i++ {
		cur := &segs[len(segs)-1]
		switch rs[i] {
		case '*':
			segs = append(segs, segment{})
		case '?':
			*cur = append(*cur, -1)
		case '\\':
			if i+1 < len(rs) {
				i++
				*cur = append(*cur, rs[i])
			}
		default:
			*cur = append(*cur, rs[i])
		}
	}
	return segs
}

func (g segment) at(s []rune, i int) bool {
	if i+len(g) > len(s) {
		return false
	}
	for j, r := range g {
		if r != -1 && s[i+j] != r {
			return false
		}
	}
	return true
}

// find returns the first i in [from, limit-len(g)] where g matches.
func (g segment) find(s []rune, from, limit int) int {
	for i := from; i+len(g) <= limit; i++ {
		if g.at(s, i) {
			return i
		}
	}
	return -1
}

// captures returns what each ? of g matched when g sits at i.
func (g segment) captures(s []rune, i int) []string {
	var out []string
	for j, r := range g {
		if r == -1 {
			out = append(out, string(s[i+j]))
		}
	}
	return out
}

// runeLen counts characters, for :length.
func runeLen(s string) int { return utf8.RuneCountInString(s) }
