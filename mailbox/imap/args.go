package imap

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	goimap "github.com/emersion/go-imap/v2"
)

// argReader reads a command's arguments from what the reader gathered:
// atoms, quoted strings, literals, lists and sequence sets.
type argReader struct {
	c *command
	i int    // literals read so far
	s string // what is left of c.text[i]
}

// args reads the arguments after the command name.
func (c *command) args() *argReader {
	r := &argReader{c: c}
	_, _, rest := commandWords([]byte(c.text[0]))
	r.s = string(rest)
	return r
}

// argsAfter reads the arguments after n words of the command line
// (2 for "UID FETCH").
func (c *command) argsAfter(n int) *argReader {
	r := c.args()
	for ; n > 1; n-- {
		r.s = strings.TrimPrefix(r.s, " ")
		if sp := strings.IndexByte(r.s, ' '); sp >= 0 {
			r.s = r.s[sp:]
		} else {
			r.s = ""
		}
	}
	return r
}

// next reads SP astring.
func (r *argReader) next() (string, error) {
	if err := r.sp(); err != nil {
		return "", err
	}
	return r.astring()
}

// sp reads one space.
func (r *argReader) sp() error {
	if !strings.HasPrefix(r.s, " ") {
		return fmt.Errorf("missing argument")
	}
	r.s = r.s[1:]
	return nil
}

// atLiteral reports whether the next argument is a literal.
func (r *argReader) atLiteral() bool { return r.s == "" && r.i < len(r.c.lits) }

// astring reads an atom, a quoted string or a literal.
func (r *argReader) astring() (string, error) {
	if r.atLiteral() {
		return r.literal(), nil
	}
	if strings.HasPrefix(r.s, `"`) {
		return r.quoted()
	}
	n := 0
	for n < len(r.s) && r.s[n] != ' ' {
		if c := r.s[n]; c < 0x21 || c == 0x7f || strings.IndexByte(`(){%*"\`, c) >= 0 {
			if c == ')' && n > 0 {
				break
			}
			return "", fmt.Errorf("%q is not allowed in an atom; quote the argument", string(c))
		}
		n++
	}
	if n == 0 {
		return "", fmt.Errorf("empty argument")
	}
	v := r.s[:n]
	r.s = r.s[n:]
	return v, nil
}

// literal takes the next literal.
func (r *argReader) literal() string {
	v := r.c.lits[r.i]
	r.i++
	r.s = r.c.text[r.i]
	return v
}

// str reads a quoted string or a literal.
func (r *argReader) str() (string, error) {
	if r.atLiteral() {
		return r.literal(), nil
	}
	if strings.HasPrefix(r.s, `"`) {
		return r.quoted()
	}
	return "", fmt.Errorf("expected a quoted string")
}

func (r *argReader) quoted() (string, error) {
	var b strings.Builder
	for i := 1; i < len(r.s); i++ {
		switch c := r.s[i]; c {
		case '"':
			r.s = r.s[i+1:]
			return b.String(), nil
		case '\\':
			if i+1 == len(r.s) || (r.s[i+1] != '\\' && r.s[i+1] != '"') {
				return "", fmt.Errorf(`only \\ and \" may be escaped in a quoted string`)
			}
			i++
			b.WriteByte(r.s[i])
		default:
			b.WriteByte(c)
		}
	}
	return "", fmt.Errorf("quoted string without its closing quote")
}

// word reads an atom that may hold "[...]" with spaces inside it and a
// "<...>" after it (FETCH items, list-mailbox patterns with '%' and '*').
func (r *argReader) word() (string, error) {
	depth, n := 0, 0
	for ; n < len(r.s); n++ {
		c := r.s[n]
		if depth == 0 && (c == ' ' || c == '(' || c == ')') {
			break
		}
		if c == '[' {
			depth++
		} else if c == ']' && depth > 0 {
			depth--
		}
	}
	if n == 0 {
		return "", fmt.Errorf("argument expected")
	}
	v := r.s[:n]
	r.s = r.s[n:]
	return v, nil
}

// peek reports whether the text left starts with p.
func (r *argReader) peek(p string) bool { return strings.HasPrefix(r.s, p) }

// take consumes p if the text left starts with it.
func (r *argReader) take(p string) bool {
	if strings.HasPrefix(r.s, p) {
		r.s = r.s[len(p):]
		return true
	}
	return false
}

// takeFold consumes the word w (any case) if it comes next.
func (r *argReader) takeFold(w string) bool {
	if len(r.s) >= len(w) && strings.EqualFold(r.s[:len(w)], w) &&
		(len(r.s) == len(w) || strings.IndexByte(" ()", r.s[len(w)]) >= 0) {
		r.s = r.s[len(w):]
		return true
	}
	return false
}

// list reads "(" item *(SP item) ")" (or "()"), calling item for each.
func (r *argReader) list(item func() error) error {
	if !r.take("(") {
		return fmt.Errorf("expected a list in parentheses")
	}
	if r.take(")") {
		return nil
	}
	for {
		if err := item(); err != nil {
			return err
		}
		if r.take(")") {
			return nil
		}
		if err := r.sp(); err != nil {
			return fmt.Errorf("list items are separated by spaces and the list ends with ')'")
		}
	}
}

// flagList reads a parenthesised list of flags.
func (r *argReader) flagList() ([]goimap.Flag, error) {
	var flags []goimap.Flag
	err := r.list(func() error {
		f, err := r.flag()
		flags = append(flags, f)
		return err
	})
	return flags, err
}

// flag reads one flag: an atom, or "\" and an atom.
func (r *argReader) flag() (goimap.Flag, error) {
	n := 0
	if r.peek(`\`) {
		n = 1
	}
	for n < len(r.s) {
		c := r.s[n]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`(){%*"\]`, c) >= 0 {
			break
		}
		n++
	}
	if n == 0 || n == 1 && r.peek(`\`) {
		return "", fmt.Errorf("flag expected")
	}
	f := r.s[:n]
	r.s = r.s[n:]
	return goimap.Flag(f), nil
}

// numSet reads a sequence set ("1:3,5:*" or "$"); uid makes it a UID set.
func (r *argReader) numSet(uid bool) (goimap.NumSet, error) {
	n := strings.IndexAny(r.s, " ()")
	if n < 0 {
		n = len(r.s)
	}
	text := r.s[:n]
	r.s = r.s[n:]
	if text == "$" {
		return goimap.SearchRes(), nil
	}
	ranges, err := parseNumSet(text)
	if err != nil || text == "" {
		return nil, &replyError{"BAD [CLIENTBUG] Invalid sequence set (bad number set value " + strconv.Quote(text) +
			"); message numbers and UIDs start at 1, use * for the last"}
	}
	if uid {
		var set goimap.UIDSet
		for _, rg := range ranges {
			set = append(set, goimap.UIDRange{Start: goimap.UID(rg[0]), Stop: goimap.UID(rg[1])})
		}
		return set, nil
	}
	var set goimap.SeqSet
	for _, rg := range ranges {
		set = append(set, goimap.SeqRange{Start: rg[0], Stop: rg[1]})
	}
	return set, nil
}

// dateTime reads a quoted date-time ("17-Jul-1996 02:44:25 -0700").
func (r *argReader) dateTime() (time.Time, error) {
	s, err := r.quoted()
	if err != nil {
		return time.Time{}, err
	}
	t, err := time.Parse("_2-Jan-2006 15:04:05 -0700", s)
	if err != nil {
		return time.Time{}, fmt.Errorf("date-time must look like \"17-Jul-1996 02:44:25 -0700\"")
	}
	return t, nil
}

// end reports whether nothing but spaces is left.
func (r *argReader) end() bool {
	return strings.Trim(r.s, " ") == "" && r.i == len(r.c.lits)
}

// done reports whether nothing at all is left (no trailing space).
func (r *argReader) done() bool { return r.s == "" && r.i == len(r.c.lits) }

// replyError is a client's mistake with the whole reply (after the tag)
// that tells it what to fix.
type replyError struct{ reply string }

func (e *replyError) Error() string { return e.reply }
