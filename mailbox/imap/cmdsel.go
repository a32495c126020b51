package imap

import (
	"fmt"
	"slices"
	"strings"

	goimap "github.com/emersion/go-imap/v2"
)

// Commands of the selected state.

// poll tells the client what changed in the selected mailbox since its
// last command; EXPUNGE responses wait while allowExpunge is false
// (during FETCH, STORE and SEARCH, RFC 9051 §7.5.1).
func (c *conn) poll(allowExpunge bool) error {
	if c.state != stateSelected {
		return nil
	}
	return c.sess.Poll(&updateWriter{c: c, allowExpunge: allowExpunge}, allowExpunge)
}

// uidArgs returns the arguments after the command's words and whether
// it is a UID command.
func uidArgs(cmd *command) (*argReader, bool) {
	if strings.HasPrefix(cmd.name, "UID ") {
		return cmd.argsAfter(2), true
	}
	return cmd.args(), false
}

func (c *conn) cmdExpunge(cmd *command) error {
	args, uid := uidArgs(cmd)
	var uids *goimap.UIDSet
	if uid {
		if err := args.sp(); err != nil {
			return c.bad(cmd, fmt.Errorf("UID EXPUNGE needs a UID set"))
		}
		set, err := args.numSet(true)
		if err != nil {
			return c.bad(cmd, err)
		}
		us, ok := set.(goimap.UIDSet)
		if !ok {
			us = c.sess.sel.searchRes
		}
		uids = &us
	}
	if !args.end() {
		return c.write(cmd.tag + " BAD " + cmd.name + ": unexpected arguments")
	}
	err := c.sess.Expunge(&expungeWriter{c: c}, uids)
	return c.finish(cmd, err, cmd.name+" completed")
}

func (c *conn) cmdFetch(cmd *command) error {
	args, uid := uidArgs(cmd)
	set, req, err := parseFetch(args, uid)
	if err == nil {
		err = c.fetchCondstore(req, set)
	}
	if err != nil {
		return c.bad(cmd, err)
	}
	err = c.sess.Fetch(&fetchWriter{c: c, req: req}, set, req.opts)
	return c.finish(cmd, err, cmd.name+" completed")
}

func (c *conn) cmdStore(cmd *command) error {
	args, uid := uidArgs(cmd)
	set, flags, unchanged, err := parseStore(args, uid)
	if err != nil {
		return c.bad(cmd, err)
	}
	if unchanged != nil {
		c.enableCondstore()
	}
	failed, err := c.sess.Store(&fetchWriter{c: c, req: &fetchRequest{}}, set, flags, unchanged)
	return c.finish(cmd, err, modifiedCode(failed, uid)+cmd.name+" completed")
}

// parseStore reads SP sequence-set [SP (UNCHANGEDSINCE n)] SP
// [+|-]FLAGS[.SILENT] SP flags; unchanged is CONDSTORE's UNCHANGEDSINCE
// (condstore.go), nil without it.
func parseStore(args *argReader, uid bool) (set goimap.NumSet, f *goimap.StoreFlags, unchanged *uint64, err error) {
	if err := args.sp(); err != nil {
		return nil, nil, nil, fmt.Errorf("STORE needs a sequence set, FLAGS and a flag list")
	}
	if set, err = args.numSet(uid); err != nil {
		return nil, nil, nil, err
	}
	if unchanged, err = storeModifiers(args); err != nil {
		return nil, nil, nil, err
	}
	if err := args.sp(); err != nil {
		return nil, nil, nil, fmt.Errorf("STORE needs FLAGS, +FLAGS or -FLAGS after the set")
	}
	item, err := args.word()
	if err != nil {
		return nil, nil, nil, err
	}
	f = &goimap.StoreFlags{}
	up := strings.ToUpper(item)
	switch {
	case strings.HasPrefix(up, "+"):
		f.Op, up = goimap.StoreFlagsAdd, up[1:]
	case strings.HasPrefix(up, "-"):
		f.Op, up = goimap.StoreFlagsDel, up[1:]
	default:
		f.Op = goimap.StoreFlagsSet
	}
	switch up {
	case "FLAGS":
	case "FLAGS.SILENT":
		f.Silent = true
	default:
		return nil, nil, nil, fmt.Errorf("unknown item %q; use FLAGS, +FLAGS or -FLAGS", item)
	}
	if err := args.sp(); err != nil {
		return nil, nil, nil, fmt.Errorf("STORE needs flags after %s", item)
	}
	if args.peek("(") {
		f.Flags, err = args.flagList()
	} else {
		for err == nil {
			var fl goimap.Flag
			if fl, err = args.flag(); err == nil {
				f.Flags = append(f.Flags, fl)
			}
			if !args.take(" ") {
				break
			}
		}
	}
	if err == nil && !args.end() {
		err = fmt.Errorf("unexpected text after the flags")
	}
	return set, f, unchanged, err
}

// cmdCopy runs COPY and MOVE (and their UID forms).
func (c *conn) cmdCopy(cmd *command) error {
	args, uid := uidArgs(cmd)
	if err := args.sp(); err != nil {
		return c.bad(cmd, fmt.Errorf("needs a sequence set and a mailbox"))
	}
	set, err := args.numSet(uid)
	if err != nil {
		return c.bad(cmd, err)
	}
	dest, err := c.mailboxName(args)
	if err == nil && !args.end() {
		err = fmt.Errorf("unexpected text after the mailbox")
	}
	if err != nil {
		return c.argError(cmd, err)
	}
	if strings.HasSuffix(cmd.name, "MOVE") {
		err = c.sess.Move(&moveWriter{c: c}, set, dest)
		return c.finish(cmd, err, cmd.name+" completed")
	}
	data, err := c.sess.Copy(set, dest)
	ok := "COPY completed"
	if data != nil {
		ok = "[COPYUID " + utoa(data.UIDValidity) + " " + data.SourceUIDs.String() + " " + data.DestUIDs.String() + "] " + ok
	}
	return c.finish(cmd, err, ok)
}

func (c *conn) cmdSearch(cmd *command) error {
	uid := cmd.name == "UID SEARCH"
	p, err := newKeyParser(cmd, uid)
	var ro *returnOpts
	if err == nil {
		ro, err = parseReturnOpts(p, "MIN", "MAX", "COUNT", "ALL", "SAVE")
	}
	if err == nil {
		err = searchCharset(p)
	}
	var criteria goimap.SearchCriteria
	if err == nil {
		criteria, err = p.all(false)
	}
	if err == errBadCharset {
		return c.write(cmd.tag + " NO " + err.Error())
	}
	if err != nil {
		return c.write(cmd.tag + " " + searchMistake(err))
	}
	c.srv.metrics.commands.WithLabelValues("SEARCH").Inc()
	found, err := c.sess.find(&criteria)
	if err != nil {
		return c.finish(cmd, err, "")
	}
	if ro != nil && ro.update {
		if err := c.addContext(cmd, uid, criteria, nil, found); err != nil {
			return c.write(cmd.tag + " BAD [CLIENTBUG] " + err.Error())
		}
	}
	if line := c.searchReply(uid, cmd.tag, ro, found); line != "" {
		c.write(line + c.searchModSeq(&criteria, ro == nil && !c.rev2(), returned(ro, found)))
	}
	return c.finish(cmd, nil, cmd.name+" completed")
}

// searchReply is SEARCH's untagged reply ("" for none): SEARCH, or
// ESEARCH when RETURN was given or IMAP4rev2 is on. RETURN (SAVE)
// keeps the result for "$" (with PARTIAL, the part returned).
func (c *conn) searchReply(uid bool, tag string, ro *returnOpts, found []*candidate) string {
	nums := make([]uint32, len(found))
	for i, m := range found {
		nums[i] = m.seq
		if uid {
			nums[i] = m.uid
		}
	}
	if ro != nil && slices.Contains(ro.items, "SAVE") {
		c.sess.sel.searchRes = savedSet(returned(ro, found))
		ro.items = slices.DeleteFunc(ro.items, func(s string) bool { return s == "SAVE" })
		if len(ro.items) == 0 && ro.partial == nil && !ro.update {
			return ""
		}
	}
	if ro == nil && c.rev2() {
		ro = &returnOpts{items: []string{"ALL"}}
	}
	if ro != nil {
		return esearchLine(tag, uid, ro, nums)
	}
	line := "* SEARCH"
	for _, n := range nums {
		line += " " + utoa(n)
	}
	return line
}

// savedSet is the UIDs SEARCH RETURN (SAVE) keeps (returned).
func savedSet(kept []*candidate) goimap.UIDSet {
	var set goimap.UIDSet
	for _, m := range kept {
		set.AddNum(goimap.UID(m.uid))
	}
	return set
}

// searchCharset reads SEARCH's optional CHARSET.
func searchCharset(p *keyParser) error {
	if p.pos < len(p.toks) && !p.toks[p.pos].str && strings.EqualFold(p.toks[p.pos].text, "CHARSET") {
		p.pos++
		return checkCharset(p)
	}
	return nil
}

// searchMistake is the reply to SEARCH keys that could not be read.
func searchMistake(err error) string {
	msg := err.Error()
	for _, p := range []string{"unknown search key ", "UID needs a set of UIDs, not "} {
		if v, ok := strings.CutPrefix(msg, p); ok {
			return "BAD [CLIENTBUG] Unknown SEARCH key or invalid sequence set (bad number set value " + v +
				"); message numbers and UIDs start at 1"
		}
	}
	return "BAD [CLIENTBUG] SEARCH syntax error: " + msg
}
