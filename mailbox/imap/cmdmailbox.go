package imap

import (
	"fmt"
	"strings"

	goimap "github.com/emersion/go-imap/v2"
)

// Commands of the authenticated state that name mailboxes.

// errBadName answers a mailbox name that is not modified UTF-7.
var errBadName = &goimap.Error{Type: goimap.StatusResponseTypeNo, Code: goimap.ResponseCodeCannot,
	Text: "Mailbox name is not valid modified UTF-7 (RFC 3501 5.1.3): write '&' as '&-', " +
		"other non-ASCII characters in base64 between '&' and '-', and no control characters"}

// mailboxName reads SP mailbox and decodes it; the error is a
// *goimap.Error for a name that cannot be decoded, else a syntax error.
func (c *conn) mailboxName(args *argReader) (string, error) {
	raw, err := args.next()
	if err != nil {
		return "", err
	}
	return c.decodeName(raw)
}

func (c *conn) decodeName(raw string) (string, error) {
	if strings.EqualFold(raw, "INBOX") {
		return "INBOX", nil
	}
	if c.utf8() {
		if strings.ContainsAny(raw, "\x00\r\n") {
			return "", errBadName
		}
		return raw, nil
	}
	name, err := decodeMUTF7(raw)
	if err != nil {
		return "", errBadName
	}
	return name, nil
}

// argError answers a command whose arguments failed: NO for a name that
// could not be decoded, BAD for a syntax error.
func (c *conn) argError(cmd *command, err error) error {
	if _, ok := err.(*goimap.Error); ok {
		c.refused = true
		return c.finish(cmd, err, "")
	}
	return c.bad(cmd, err)
}

func (c *conn) cmdSelect(cmd *command) error {
	args := cmd.args()
	name, err := c.mailboxName(args)
	var params selectOptions
	if err == nil && !args.end() {
		params, err = c.selectParams(args)
	}
	if err != nil {
		return c.argError(cmd, err)
	}
	readOnly := cmd.name == "EXAMINE"
	if c.state == stateSelected {
		c.sess.Unselect()
		c.state = stateAuth
		c.write("* OK [CLOSED] Previous mailbox is now closed")
	}
	data, err := c.sess.Select(name, &goimap.SelectOptions{ReadOnly: readOnly})
	if err != nil {
		return c.finish(cmd, err, "")
	}
	r := c.newResp()
	r.raw("* ").num(data.NumMessages).raw(" EXISTS").crlf()
	if !c.rev2() {
		r.raw("* ").num(data.NumRecent).raw(" RECENT").crlf()
		if data.FirstUnseenSeqNum != 0 {
			r.raw("* OK [UNSEEN ").num(data.FirstUnseenSeqNum).raw("] First unseen message").crlf()
		}
	}
	r.raw("* OK [UIDVALIDITY ").num(data.UIDValidity).raw("] UIDs valid").crlf()
	r.raw("* OK [UIDNEXT ").num(uint32(data.UIDNext)).raw("] Predicted next UID").crlf()
	r.raw("* FLAGS ").flags(data.Flags).crlf()
	r.raw("* OK [PERMANENTFLAGS ").flags(data.PermanentFlags).raw("] Permanent flags").crlf()
	c.send(r)
	c.state = stateSelected
	c.selectModSeq(params, data.UIDValidity)
	if readOnly {
		return c.write(cmd.tag + " OK [READ-ONLY] EXAMINE completed")
	}
	return c.write(cmd.tag + " OK [READ-WRITE] SELECT completed")
}

func (c *conn) cmdCreate(cmd *command) error {
	args := cmd.args()
	name, err := c.mailboxName(args)
	if err != nil {
		return c.argError(cmd, err)
	}
	if !args.end() {
		// CREATE-SPECIAL-USE's (USE (...)) is accepted and not kept, as before.
		if err := args.sp(); err != nil || !args.take("(") {
			return c.write(cmd.tag + " BAD CREATE takes a mailbox name and optional parameters")
		}
	}
	return c.finish(cmd, c.sess.Create(name, nil), "CREATE completed")
}

// cmdMailbox runs the commands whose only argument is a mailbox.
func (c *conn) cmdMailbox(cmd *command) error {
	args := cmd.args()
	name, err := c.mailboxName(args)
	if err == nil && !args.end() {
		err = fmt.Errorf("%s takes one mailbox name", cmd.name)
	}
	if err != nil {
		return c.argError(cmd, err)
	}
	switch cmd.name {
	case "DELETE":
		err = c.sess.Delete(name)
	case "SUBSCRIBE":
		err = c.sess.Subscribe(name)
	case "UNSUBSCRIBE":
		err = c.sess.Unsubscribe(name)
	}
	return c.finish(cmd, err, cmd.name+" completed")
}

func (c *conn) cmdRename(cmd *command) error {
	args := cmd.args()
	from, err := c.mailboxName(args)
	var to string
	if err == nil {
		to, err = c.mailboxName(args)
	}
	if err == nil && !args.end() {
		err = fmt.Errorf("RENAME takes two mailbox names")
	}
	if err != nil {
		return c.argError(cmd, err)
	}
	return c.finish(cmd, c.sess.Rename(from, to, nil), "RENAME completed")
}

func (c *conn) cmdStatus(cmd *command) error {
	args := cmd.args()
	name, err := c.mailboxName(args)
	if err != nil {
		return c.argError(cmd, err)
	}
	var o goimap.StatusOptions
	if err := args.sp(); err != nil {
		return c.bad(cmd, fmt.Errorf("STATUS needs a list of items, such as (MESSAGES UNSEEN)"))
	}
	if err := c.statusItems(args, &o); err != nil || !args.end() {
		return c.bad(cmd, fmt.Errorf("STATUS needs a list of items, such as (MESSAGES UNSEEN)"))
	}
	if o.HighestModSeq {
		c.enableCondstore()
	}
	d, err := c.sess.Status(name, &o)
	if err != nil {
		return c.finish(cmd, err, "")
	}
	r := c.newResp()
	c.send(r.raw("* STATUS ").mailbox(d.Mailbox).sp().statusData(d).crlf())
	return c.write(cmd.tag + " OK STATUS completed")
}

// statusItems reads a list of STATUS data items.
func (c *conn) statusItems(args *argReader, o *goimap.StatusOptions) error {
	return args.list(func() error {
		w, err := args.word()
		if err != nil {
			return err
		}
		set := map[string]*bool{"MESSAGES": &o.NumMessages, "RECENT": &o.NumRecent, "UIDNEXT": &o.UIDNext,
			"UIDVALIDITY": &o.UIDValidity, "UNSEEN": &o.NumUnseen, "DELETED": &o.NumDeleted, "SIZE": &o.Size,
			"APPENDLIMIT": &o.AppendLimit, "DELETED-STORAGE": &o.DeletedStorage,
			"HIGHESTMODSEQ": &o.HighestModSeq}[strings.ToUpper(w)]
		if set == nil {
			return fmt.Errorf("unknown STATUS item %q", w)
		}
		*set = true
		return nil
	})
}

// statusData writes STATUS's parenthesised attribute list.
func (r *resp) statusData(d *goimap.StatusData) *resp {
	var items []string
	add := func(name string, v any) { items = append(items, fmt.Sprint(name, " ", v)) }
	if d.NumMessages != nil {
		add("MESSAGES", *d.NumMessages)
	}
	if d.NumRecent != nil {
		add("RECENT", *d.NumRecent)
	}
	if d.UIDNext != 0 {
		add("UIDNEXT", uint32(d.UIDNext))
	}
	if d.UIDValidity != 0 {
		add("UIDVALIDITY", d.UIDValidity)
	}
	if d.NumUnseen != nil {
		add("UNSEEN", *d.NumUnseen)
	}
	if d.NumDeleted != nil {
		add("DELETED", *d.NumDeleted)
	}
	if d.Size != nil {
		add("SIZE", *d.Size)
	}
	if d.AppendLimit != nil {
		add("APPENDLIMIT", *d.AppendLimit)
	}
	if d.DeletedStorage != nil {
		add("DELETED-STORAGE", *d.DeletedStorage)
	}
	if d.HighestModSeq != 0 {
		add("HIGHESTMODSEQ", d.HighestModSeq)
	}
	return r.raw("(" + strings.Join(items, " ") + ")")
}

func (c *conn) cmdClose(cmd *command) error {
	if !c.noArgs(cmd) {
		return c.write(cmd.tag + " BAD " + cmd.name + " takes no arguments")
	}
	if cmd.name == "CLOSE" {
		// CLOSE expunges silently (RFC 9051 §6.4.1).
		if err := c.sess.Expunge(&expungeWriter{}, nil); err != nil {
			return c.finish(cmd, err, "")
		}
	}
	c.sess.Unselect()
	c.state = stateAuth
	return c.write(cmd.tag + " OK " + cmd.name + " completed")
}
