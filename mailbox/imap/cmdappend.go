package imap

import (
	"fmt"
	"io"
	"strings"
	"time"

	goimap "github.com/emersion/go-imap/v2"

	"mailgate/mailbox"
)

// APPEND, with MULTIAPPEND (RFC 3502: several messages in one command,
// all stored or none) and LITERAL+. The message data is streamed from
// the connection to the store, never held whole in memory; data the
// command will not store is still read (a non-synchronising literal)
// or never asked for (a synchronising one), so it cannot run as
// commands.

// appendItem is one message of an APPEND.
type appendItem struct {
	flags []goimap.Flag
	date  time.Time
}

func (c *conn) cmdAppend(cmd *command) error {
	args := cmd.args()
	name, err := c.mailboxName(args)
	if err != nil {
		c.skipMessages(cmd)
		return c.argError(cmd, err)
	}
	var uids []uint32
	var validity uint32
	for {
		m, err := c.appendArgs(cmd, args)
		if err != nil {
			c.skipMessages(cmd)
			c.undoAppend(name, uids)
			return c.bad(cmd, err)
		}
		data, err := c.appendOne(cmd, name, m)
		if err != nil {
			c.skipMessages(cmd)
			c.undoAppend(name, uids)
			return c.finish(cmd, err, "")
		}
		uids, validity = append(uids, uint32(data.UID)), data.UIDValidity
		if err := c.nextMessage(cmd, args); err != nil {
			return err
		}
		if cmd.stream == nil { // the command's last line
			if !args.end() {
				c.undoAppend(name, uids)
				return c.bad(cmd, fmt.Errorf("unexpected text after the message"))
			}
			break
		}
	}
	code := "[APPENDUID " + utoa(validity) + " " + orderedSet(uids) + "] "
	return c.finish(cmd, nil, code+"APPEND completed")
}

// appendArgs reads SP [flag-list SP] [date-time SP] up to the message
// data, which the reader left in cmd.stream.
func (c *conn) appendArgs(cmd *command, args *argReader) (appendItem, error) {
	var m appendItem
	if err := args.sp(); err != nil {
		return m, fmt.Errorf("APPEND needs a mailbox name and a message literal")
	}
	if args.peek("(") {
		flags, err := args.flagList()
		if err != nil {
			return m, err
		}
		m.flags = flags
		if err := args.sp(); err != nil {
			return m, fmt.Errorf("a message literal must follow the flags")
		}
	}
	if args.peek(`"`) {
		date, err := args.dateTime()
		if err != nil {
			return m, err
		}
		m.date = date
		if err := args.sp(); err != nil {
			return m, fmt.Errorf("a message literal must follow the date")
		}
	}
	if args.s != "" || cmd.stream == nil {
		return m, fmt.Errorf("message literal expected, such as {310}")
	}
	return m, nil
}

// appendOne stores the message whose data comes next.
func (c *conn) appendOne(cmd *command, name string, m appendItem) (*goimap.AppendData, error) {
	lit := cmd.stream
	if !lit.nonSync {
		if !c.srv.opts.Store.FolderExists(c.sess.account, name) {
			return nil, errTryCreate
		}
		c.write("+ Ready for literal data")
	}
	body := io.LimitReader(c.br, lit.size)
	var data io.Reader = body
	if lit.binary {
		data = mailbox.Binary{Reader: body} // stored as sent (RFC 3516)
	}
	res, err := c.sess.Append(name, data, &goimap.AppendOptions{Flags: m.flags, Time: m.date})
	if _, derr := io.Copy(io.Discard, body); derr != nil {
		return nil, derr // the client went away in the middle
	}
	cmd.stream = &literal{} // read: skipMessages has nothing left of it
	return res, err
}

// nextMessage reads what follows a message's data: the end of the
// command, or the next message's arguments (MULTIAPPEND).
func (c *conn) nextMessage(cmd *command, args *argReader) error {
	cmd.stream = nil
	cmd.lits = append(cmd.lits, "") // the streamed data's place
	if err := c.readLines(cmd); err != nil {
		return err
	}
	args.literal()
	return nil
}

// skipMessages reads and drops the rest of a refused APPEND: the data of
// non-synchronising literals; after a synchronising one the client
// sends nothing, since it waits for "+".
func (c *conn) skipMessages(cmd *command) {
	for cmd.stream != nil && (cmd.stream.nonSync || cmd.stream.size == 0) {
		if c.skipLiteral(cmd.stream) != nil {
			return
		}
		cmd.stream = nil
		cmd.lits = append(cmd.lits, "")
		if c.readLines(cmd) != nil {
			return
		}
	}
}

// undoAppend removes the messages a MULTIAPPEND stored before one of
// its messages failed: all are stored or none.
func (c *conn) undoAppend(name string, uids []uint32) {
	if len(uids) == 0 {
		return
	}
	if _, err := c.srv.opts.Store.ExpungeUIDs(c.sess.account, name, uids); err != nil {
		c.log.Error("imap MULTIAPPEND: could not remove the messages of a failed command",
			"account", c.sess.account, "err", cleanLog(err.Error()))
	}
}

var errTryCreate = &goimap.Error{Type: goimap.StatusResponseTypeNo, Code: goimap.ResponseCodeTryCreate,
	Text: "No such mailbox; create it first"}

// cmdIdle waits for changes and reports them at once, until the client
// sends DONE (RFC 2177).
func (c *conn) cmdIdle(cmd *command) error {
	if !c.noArgs(cmd) {
		return c.write(cmd.tag + " BAD IDLE takes no arguments")
	}
	c.write("+ idling")
	c.flush()
	type result struct {
		line []byte
		err  error
	}
	done := make(chan result, 1)
	stop := make(chan struct{})
	go func() {
		line, err := c.readLine(&command{})
		done <- result{line, err}
		close(stop)
	}()
	err := c.sess.Idle(&updateWriter{c: c, allowExpunge: true}, stop)
	if err != nil {
		c.Close() // the reader goroutine then returns at once
	}
	r := <-done
	switch {
	case r.err != nil:
		return r.err
	case err != nil:
		return err
	case !strings.EqualFold(string(r.line), "DONE"):
		return c.write(cmd.tag + " BAD IDLE ends with DONE")
	}
	return c.write(cmd.tag + " OK IDLE completed")
}
