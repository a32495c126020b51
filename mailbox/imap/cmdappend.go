package imap

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	goimap "github.com/emersion/go-imap/v2"

	"mailgate/mailbox"
)

// APPEND, with MULTIAPPEND (RFC 3502: several messages in one command,
// all stored or none), CATENATE (RFC 4469, catenate.go) and LITERAL+.
// Each message is streamed from the connection into a draft in the
// folder's tmp/ (mailbox.Draft), never held whole in memory; once the
// command has been read to its end, the store commits all of them in
// one change (mailbox.CommitStaged), so that no other session ever sees
// part of a MULTIAPPEND. Data the command will not store is still read
// (a non-synchronising literal) or never asked for (a synchronising
// one), so it cannot run as commands.

// appendItem is one message of an APPEND.
type appendItem struct {
	flags    []goimap.Flag
	date     time.Time
	catenate bool // CATENATE (...) instead of a literal
}

// argErr is a mistake in an APPEND's arguments: answered BAD, not NO.
type argErr struct{ error }

func (c *conn) cmdAppend(cmd *command) error {
	c.srv.metrics.commands.WithLabelValues("APPEND").Inc()
	args := cmd.args()
	name, err := c.mailboxName(args)
	if err != nil {
		c.skipMessages(cmd)
		return c.argError(cmd, err)
	}
	var staged []*mailbox.Staged
	for {
		st, err := c.stageNext(cmd, args, name)
		if err != nil {
			discardStaged(staged)
			c.skipMessages(cmd)
			return c.appendError(cmd, err)
		}
		staged = append(staged, st)
		if err := c.roomFor(staged); err != nil {
			discardStaged(staged)
			c.skipMessages(cmd)
			return c.appendError(cmd, err)
		}
		if cmd.stream == nil && args.end() {
			break
		}
	}
	done := c.srv.checkpoints.commit(c.sess.account, name) // not while sessions CHECK it (checkpoint.go)
	res, err := c.srv.opts.Store.CommitStaged(c.sess.account, name, staged)
	done()
	if err != nil {
		return c.appendError(cmd, err)
	}
	uids := make([]uint32, len(res))
	for i, r := range res {
		uids[i] = r.UID
	}
	code := "[APPENDUID " + utoa(res[0].UIDValidity) + " " + orderedSet(uids) + "] "
	return c.finish(cmd, nil, code+"APPEND completed")
}

// roomFor refuses a MULTIAPPEND as soon as what it staged no longer
// fits the account's quota, so that one command cannot fill tmp/ with
// drafts that CommitStaged would refuse anyway.
func (c *conn) roomFor(staged []*mailbox.Staged) error {
	used, limit, err := c.srv.opts.Store.Usage(c.sess.account)
	if err != nil || limit <= 0 {
		return err
	}
	var total int64
	for _, st := range staged {
		total += st.Size()
	}
	if used+total <= limit {
		return nil
	}
	return mailbox.QuotaError{Permanent: total > limit, Account: c.sess.account, Size: total, Used: used, Limit: limit}
}

// stageNext reads one message's arguments and data into a draft.
func (c *conn) stageNext(cmd *command, args *argReader, name string) (*mailbox.Staged, error) {
	m, err := c.appendArgs(cmd, args)
	if err != nil {
		return nil, argErr{err}
	}
	if m.catenate {
		return c.stageCatenate(cmd, args, name, m)
	}
	d, err := c.newDraft(name, cmd.stream.binary)
	if err != nil {
		return nil, err
	}
	if err := c.copyLiteral(cmd, args, name, d); err != nil {
		d.Discard()
		return nil, err
	}
	return d.Finish(flagNames(m.flags), m.date)
}

// appendError answers a failed APPEND: BAD for its arguments, NO with
// what to do for the rest.
func (c *conn) appendError(cmd *command, err error) error {
	var ae argErr
	if errors.As(err, &ae) {
		return c.bad(cmd, ae.error)
	}
	return c.finish(cmd, c.storeError(err), "")
}

// storeError maps what the store says about an APPEND to a reply.
func (c *conn) storeError(err error) error {
	var ie *goimap.Error
	switch {
	case errors.As(err, &ie), errors.Is(err, errClosed), clientGone(err):
		return err
	case errors.Is(err, mailbox.ErrNoFolder):
		return errTryCreate
	case errors.Is(err, mailbox.ErrTooBig):
		return &goimap.Error{Type: goimap.StatusResponseTypeNo, Code: goimap.ResponseCodeTooBig,
			Text: "Message is larger than the APPENDLIMIT of " + utoa(c.sess.AppendLimit()) + " octets"}
	}
	return c.sess.imapError(err)
}

// newDraft starts a message in the folder name.
func (c *conn) newDraft(name string, binary bool) (*mailbox.Draft, error) {
	return c.srv.opts.Store.NewDraft(c.sess.account, name, c.srv.opts.MaxLiteral, binary)
}

// appendArgs reads SP [flag-list SP] [date-time SP] up to the message
// data, which the reader left in cmd.stream, or up to CATENATE's list.
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
	if args.takeFold("CATENATE") {
		m.catenate = true
		return m, nil
	}
	if !atStream(cmd, args) {
		return m, fmt.Errorf("message literal expected, such as {310}")
	}
	return m, nil
}

// atStream reports whether message data comes next.
func atStream(cmd *command, args *argReader) bool { return args.s == "" && cmd.stream != nil }

// copyLiteral copies the message data that comes next into d, asking
// for it with "+" if the literal is synchronising (and the folder
// exists), then reads what follows it.
func (c *conn) copyLiteral(cmd *command, args *argReader, name string, d *mailbox.Draft) error {
	lit := cmd.stream
	if !lit.nonSync {
		if !c.srv.opts.Store.FolderExists(c.sess.account, name) {
			return errTryCreate
		}
		c.write("+ Ready for literal data")
	}
	body := io.LimitReader(c.br, lit.size)
	_, err := io.Copy(d, body)
	if _, derr := io.Copy(io.Discard, body); derr != nil {
		return derr // the client went away in the middle
	}
	cmd.stream = &literal{} // read: skipMessages has nothing left of it
	if err != nil {
		return err
	}
	return c.nextMessage(cmd, args)
}

// nextMessage reads what follows a message's data: the end of the
// command, or more arguments (the next message of a MULTIAPPEND, the
// next part of a CATENATE).
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

func discardStaged(staged []*mailbox.Staged) {
	for _, st := range staged {
		st.Discard()
	}
}

func flagNames(flags []goimap.Flag) []string {
	out := make([]string, len(flags))
	for i, f := range flags {
		out[i] = string(f)
	}
	return out
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
