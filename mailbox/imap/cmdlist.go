package imap

import (
	"fmt"
	"strings"

	goimap "github.com/emersion/go-imap/v2"
)

// LIST (with LIST-EXTENDED's selection and return options, RFC 5258,
// and LIST-STATUS, RFC 5819) and LSUB.

func (c *conn) cmdList(cmd *command) error {
	args := cmd.args()
	var o goimap.ListOptions
	lsub := cmd.name == "LSUB"
	if err := args.sp(); err != nil {
		return c.bad(cmd, fmt.Errorf("%s needs a reference and a mailbox pattern", cmd.name))
	}
	if !lsub && args.peek("(") {
		if err := c.listSelect(args, &o); err != nil {
			return c.bad(cmd, err)
		}
		if err := args.sp(); err != nil {
			return c.bad(cmd, err)
		}
	}
	ref, err := args.astringOrEmpty()
	if err != nil {
		return c.bad(cmd, err)
	}
	if err := args.sp(); err != nil {
		return c.bad(cmd, fmt.Errorf("%s needs a reference and a mailbox pattern", cmd.name))
	}
	patterns, err := c.listPatterns(args, lsub)
	if err == nil && !args.end() {
		err = c.listReturn(args, &o)
	}
	if err != nil {
		return c.bad(cmd, err)
	}
	if o.SelectRecursiveMatch && !o.SelectSubscribed {
		return c.bad(cmd, fmt.Errorf("RECURSIVEMATCH needs another selection option, such as SUBSCRIBED"))
	}
	if lsub {
		o.SelectSubscribed = true
	}
	ref, patterns = c.decodePatterns(ref, patterns)
	if len(patterns) == 0 {
		// Nothing can match (see decodePatterns).
		return c.finish(cmd, nil, cmd.name+" completed")
	}
	if !lsub && len(patterns) == 1 && patterns[0] == "" {
		// The hierarchy delimiter and root (RFC 3501 §6.3.8).
		c.write(`* LIST (\Noselect) "/" ""`)
		return c.finish(cmd, nil, "LIST completed")
	}
	c.sess.lsub = lsub
	err = c.sess.List(&listWriter{c: c, lsub: lsub, status: o.ReturnStatus != nil}, ref, patterns, &o)
	return c.finish(cmd, err, cmd.name+" completed")
}

// decodePatterns decodes the reference and the patterns like mailbox
// names. A reference or pattern that is not valid modified UTF-7 is no
// error (imaptest's atoms group, as Dovecot): no mailbox name can be
// written that way, so it matches nothing and is left out; LIST then
// answers OK with what the other patterns match.
func (c *conn) decodePatterns(ref string, patterns []string) (string, []string) {
	ref, err := c.decodePattern(ref)
	if err != nil {
		return "", nil
	}
	var out []string
	for _, p := range patterns {
		if d, err := c.decodePattern(p); err == nil {
			out = append(out, d)
		}
	}
	return ref, out
}

// decodePattern decodes a reference or pattern like a mailbox name.
func (c *conn) decodePattern(p string) (string, error) {
	if p == "" || c.utf8() {
		return p, nil
	}
	return c.decodeName(p)
}

// astringOrEmpty reads an astring ("" is a quoted empty string).
func (r *argReader) astringOrEmpty() (string, error) {
	if r.peek(`""`) {
		r.s = r.s[2:]
		return "", nil
	}
	return r.astring()
}

// listPatterns reads list-mailbox, or a parenthesised list of them
// (LIST-EXTENDED; not for LSUB).
func (c *conn) listPatterns(args *argReader, lsub bool) ([]string, error) {
	if !args.peek("(") || lsub {
		p, err := args.listMailbox()
		return []string{p}, err
	}
	var out []string
	err := args.list(func() error {
		p, err := args.listMailbox()
		out = append(out, p)
		return err
	})
	return out, err
}

// listMailbox reads a string or an atom that may hold '%' and '*'.
func (r *argReader) listMailbox() (string, error) {
	if r.atLiteral() || r.peek(`"`) {
		return r.str()
	}
	n := 0
	for n < len(r.s) {
		if ch := r.s[n]; ch <= ' ' || ch >= 0x7f || strings.IndexByte(`(){"\`, ch) >= 0 {
			break
		}
		n++
	}
	if n == 0 {
		return "", fmt.Errorf("mailbox pattern expected")
	}
	p := r.s[:n]
	r.s = r.s[n:]
	return p, nil
}

// listSelect reads the selection options.
func (c *conn) listSelect(args *argReader, o *goimap.ListOptions) error {
	return args.list(func() error {
		w, err := args.word()
		if err != nil {
			return err
		}
		switch strings.ToUpper(w) {
		case "SUBSCRIBED":
			o.SelectSubscribed = true
		case "REMOTE":
			o.SelectRemote = true
		case "RECURSIVEMATCH":
			o.SelectRecursiveMatch = true
		case "SPECIAL-USE":
			o.SelectSpecialUse = true
		default:
			return fmt.Errorf("unknown selection option %q", w)
		}
		return nil
	})
}

// listReturn reads SP RETURN (options).
func (c *conn) listReturn(args *argReader, o *goimap.ListOptions) error {
	if args.sp() != nil || !args.takeFold("RETURN") || args.sp() != nil {
		return fmt.Errorf("unexpected text after the mailbox pattern")
	}
	return args.list(func() error {
		w, err := args.word()
		if err != nil {
			return err
		}
		switch strings.ToUpper(w) {
		case "SUBSCRIBED":
			o.ReturnSubscribed = true
		case "CHILDREN":
			o.ReturnChildren = true
		case "SPECIAL-USE":
			o.ReturnSpecialUse = true
		case "STATUS":
			o.ReturnStatus = &goimap.StatusOptions{}
			if args.sp() != nil {
				return fmt.Errorf("RETURN STATUS needs a list of items")
			}
			return c.statusItems(args, o.ReturnStatus)
		default:
			return fmt.Errorf("unknown return option %q", w)
		}
		return nil
	})
}

// listWriter writes LIST or LSUB responses.
type listWriter struct {
	c      *conn
	lsub   bool
	status bool
}

func (w *listWriter) WriteList(d *goimap.ListData) error {
	r := w.c.newResp()
	if w.lsub {
		r.raw("* LSUB (")
	} else {
		r.raw("* LIST (")
	}
	for i, a := range d.Attrs {
		if w.lsub && a == goimap.MailboxAttrNonExistent {
			continue
		}
		if i > 0 && r.b[len(r.b)-1] != '(' {
			r.sp()
		}
		r.raw(string(a))
	}
	r.raw(`) "/" `)
	if d.Mailbox == "" {
		r.raw(`""`)
	} else {
		r.mailbox(d.Mailbox)
	}
	if d.ChildInfo != nil && !w.lsub {
		r.raw(` (CHILDINFO ("SUBSCRIBED"))`)
	}
	r.crlf()
	if d.Status != nil {
		r.raw("* STATUS ").mailbox(d.Mailbox).sp().statusData(d.Status).crlf()
	}
	return w.c.send(r)
}

// matchList reports whether name matches the reference and pattern of
// LIST (RFC 3501 §6.3.8): '*' matches anything, '%' anything but the
// hierarchy delimiter.
func matchList(name, ref, pattern string) bool {
	if strings.HasPrefix(pattern, "/") {
		ref, pattern = "", pattern[1:]
	}
	if ref != "" {
		if !strings.HasSuffix(ref, "/") {
			ref += "/"
		}
		if !strings.HasPrefix(name, ref) {
			return false
		}
		name = name[len(ref):]
	}
	return wildMatch(name, pattern)
}

// wildMatch matches in O(len(name)*len(pattern)), so no pattern can
// make LIST slow.
func wildMatch(name, pattern string) bool {
	// ok[j]: name[:i] matches pattern[:j], for the current i.
	ok := make([]bool, len(pattern)+1)
	ok[0] = true
	for j := 0; j < len(pattern) && (pattern[j] == '*' || pattern[j] == '%'); j++ {
		ok[j+1] = true
	}
	for i := 0; i < len(name); i++ {
		next := make([]bool, len(pattern)+1)
		for j := 0; j < len(pattern); j++ {
			switch p := pattern[j]; {
			case p == '*' || p == '%' && name[i] != '/':
				next[j+1] = ok[j+1] || next[j] // one more character, or none
			case p == '%':
				next[j+1] = next[j]
			default:
				next[j+1] = ok[j] && p == name[i]
			}
		}
		ok = next
	}
	return ok[len(pattern)]
}
