package imap

import (
	"errors"
	"slices"
	"strconv"
	"strings"

	goimap "github.com/emersion/go-imap/v2"
)

// Dispatch: which command runs in which state, and the tagged reply.
// Extensions add rows here (and, for modifiers such as CONDSTORE's
// CHANGEDSINCE, arguments in their parser); nothing else changes.

// states is a set of connection states a command is valid in.
type states uint8

const (
	inNotAuth states = 1 << iota
	inAuth
	inSelected
	inAny      = inNotAuth | inAuth | inSelected
	afterLogin = inAuth | inSelected
)

func (s states) has(st connState) bool { return s&(1<<st) != 0 }

// handler runs one command and writes all its responses, the tagged one
// included. It returns an error only when the connection must end.
type handler struct {
	states states
	run    func(c *conn, cmd *command) error
}

// commandTable is the command table, built once per Server. UID's
// sub-commands are looked up as "UID FETCH" and so on.
func commandTable() map[string]handler {
	return map[string]handler{
		"CAPABILITY":   {inAny, (*conn).cmdCapability},
		"NOOP":         {inAny, (*conn).cmdNoop},
		"LOGOUT":       {inAny, (*conn).cmdLogout},
		"ID":           {inAny, (*conn).cmdID},
		"STARTTLS":     {inNotAuth, (*conn).cmdStartTLS},
		"LOGIN":        {inNotAuth, (*conn).cmdLogin},
		"AUTHENTICATE": {inNotAuth, (*conn).cmdAuthenticate},
		"ENABLE":       {afterLogin, (*conn).cmdEnable},
		"SELECT":       {afterLogin, (*conn).cmdSelect},
		"EXAMINE":      {afterLogin, (*conn).cmdSelect},
		"CREATE":       {afterLogin, (*conn).cmdCreate},
		"DELETE":       {afterLogin, (*conn).cmdMailbox},
		"RENAME":       {afterLogin, (*conn).cmdRename},
		"SUBSCRIBE":    {afterLogin, (*conn).cmdMailbox},
		"UNSUBSCRIBE":  {afterLogin, (*conn).cmdMailbox},
		"LIST":         {afterLogin, (*conn).cmdList},
		"LSUB":         {afterLogin, (*conn).cmdList},
		"NAMESPACE":    {afterLogin, (*conn).cmdNamespace},
		"STATUS":       {afterLogin, (*conn).cmdStatus},
		"APPEND":       {afterLogin, (*conn).cmdAppend},
		"IDLE":         {afterLogin, (*conn).cmdIdle},
		"GETQUOTA":     {afterLogin, (*conn).cmdQuota},
		"GETQUOTAROOT": {afterLogin, (*conn).cmdQuota},
		"SETQUOTA":     {afterLogin, (*conn).cmdQuota},
		"CHECK":        {inSelected, (*conn).cmdNoop},
		"CLOSE":        {inSelected, (*conn).cmdClose},
		"UNSELECT":     {inSelected, (*conn).cmdClose},
		"EXPUNGE":      {inSelected, (*conn).cmdExpunge},
		"UID EXPUNGE":  {inSelected, (*conn).cmdExpunge},
		"SEARCH":       {inSelected, (*conn).cmdSearch},
		"UID SEARCH":   {inSelected, (*conn).cmdSearch},
		"FETCH":        {inSelected, (*conn).cmdFetch},
		"UID FETCH":    {inSelected, (*conn).cmdFetch},
		"STORE":        {inSelected, (*conn).cmdStore},
		"UID STORE":    {inSelected, (*conn).cmdStore},
		"COPY":         {inSelected, (*conn).cmdCopy},
		"UID COPY":     {inSelected, (*conn).cmdCopy},
		"MOVE":         {inSelected, (*conn).cmdCopy},
		"UID MOVE":     {inSelected, (*conn).cmdCopy},
		"SORT":         {inSelected, (*conn).cmdSort},
		"UID SORT":     {inSelected, (*conn).cmdSort},
		"THREAD":       {inSelected, (*conn).cmdThread},
		"UID THREAD":   {inSelected, (*conn).cmdThread},
		"CANCELUPDATE": {inSelected, (*conn).cmdCancelUpdate},
		"NOTIFY":       {afterLogin, (*conn).cmdNotify},
	}
}

// dispatch runs one command.
func (c *conn) dispatch(cmd *command) error {
	if cmd.tag == "" || cmd.name == "" || !validTag(cmd.tag) {
		c.write("* BAD Syntax error: a command is a tag, a space and a command name")
		if cmd.literal {
			return c.closeWith(literalRefused) // its literal must not run as commands
		}
		return nil
	}
	if len(cmd.text) > 1 && openQuote([]byte(cmd.text[len(cmd.text)-1])) {
		return c.closeWith("Quoted string not closed at the end of the line; closing the connection")
	}
	if openQuote([]byte(cmd.text[len(cmd.text)-1])) {
		return c.write(cmd.tag + ` BAD Quoted string not closed at the end of the line; close it with " or send the text as a literal`)
	}
	if cmd.noLiteral {
		return c.write(cmd.tag + " BAD " + cmd.name + " takes no literal here")
	}
	name := cmd.name
	if name == "UID" {
		name = "UID " + uidCommand([]byte(cmd.text[0]))
	}
	h, ok := c.srv.commands[name]
	if !ok {
		if c.state == stateNotAuth {
			// Before login, as imapserver did: an unknown command ends the
			// connection (a client speaking another protocol).
			c.write(cmd.tag + " BAD Unknown command")
			return c.bye("Unknown command")
		}
		return c.write(cmd.tag + " BAD Unknown command")
	}
	if !h.states.has(c.state) {
		if c.state == stateNotAuth {
			// As imapserver did: a command not allowed before login ends
			// the connection (cross-protocol attacks send such lines).
			c.write(cmd.tag + " BAD Unknown command")
			return c.bye("Unknown command")
		}
		return c.write(cmd.tag + " BAD " + wrongState(name))
	}
	cmd.name = name
	switch name {
	case "SORT", "UID SORT", "THREAD", "UID THREAD", "GETQUOTA", "GETQUOTAROOT", "SETQUOTA":
		// The session's methods count the other commands themselves.
		c.srv.metrics.commands.WithLabelValues(name).Inc()
	}
	c.cur, c.refused = cmd, false
	err := h.run(c, cmd)
	c.cur = nil
	if err == nil && c.refused && cmd.literal {
		return c.closeWith(literalRefused)
	}
	return err
}

// literalRefused ends a connection whose malformed command carried a
// literal: the client and we may not agree on where that command
// ended, and nothing it sent after must run as a command.
const literalRefused = "A command carrying a literal was rejected; closing the connection to stay in step"

// wrongState answers a command sent in a state it is not valid in,
// after login.
func wrongState(name string) string {
	switch name {
	case "STARTTLS":
		return "STARTTLS not available"
	case "LOGIN", "AUTHENTICATE":
		return "Already logged in"
	}
	return "No mailbox selected; SELECT one first"
}

// validTag: any printable ASCII but atom-specials and '+'.
func validTag(tag string) bool {
	for i := 0; i < len(tag); i++ {
		if c := tag[i]; c <= ' ' || c >= 0x7f || strings.IndexByte(`(){%*"\+`, c) >= 0 {
			return false
		}
	}
	return true
}

// uidCommand returns the command after UID ("SORT" in "a UID SORT ...").
func uidCommand(text []byte) string {
	_, _, rest := commandWords(text)
	s := strings.TrimLeft(string(rest), " ")
	if sp := strings.IndexByte(s, ' '); sp >= 0 {
		s = s[:sp]
	}
	return strings.ToUpper(s)
}

// finish writes the tagged reply of a command: OK with text, or the
// refusal err stands for (session.imapError's *goimap.Error). In the
// selected state, what changed in the mailbox is told first.
func (c *conn) finish(cmd *command, err error, ok string) error {
	if errors.Is(err, errClosed) || clientGone(err) {
		return err
	}
	if perr := c.poll(!slices.Contains([]string{"FETCH", "STORE", "SEARCH"}, cmd.name)); perr != nil {
		return perr
	}
	if err == nil {
		return c.write(cmd.tag + " OK " + ok)
	}
	if errors.Is(err, errClosed) || clientGone(err) {
		return err
	}
	var ie *goimap.Error
	if !errors.As(err, &ie) {
		c.log.Error("imap command failed", "command", cmd.name, "err", cleanLog(err.Error()))
		return c.write(cmd.tag + " NO [SERVERBUG] Internal error; try again later")
	}
	return c.write(cmd.tag + " " + statusLine(ie))
}

// statusLine writes an error as "NO [CODE] text".
func statusLine(ie *goimap.Error) string {
	line := string(ie.Type)
	if ie.Code != "" {
		line += " [" + string(ie.Code) + "]"
	}
	return line + " " + ie.Text
}

// bad answers a command whose arguments could not be read.
func (c *conn) bad(cmd *command, err error) error {
	var re *replyError
	if errors.As(err, &re) {
		return c.write(cmd.tag + " " + re.reply)
	}
	return c.write(cmd.tag + " BAD " + cmd.name + ": " + err.Error())
}

// noArgs checks a command that takes no arguments.
func (c *conn) noArgs(cmd *command) bool {
	return cmd.argsAfter(len(strings.Fields(cmd.name))).end()
}

// utf8 reports whether the client enabled UTF-8 (IMAP4rev2 or
// UTF8=ACCEPT): mailbox names and strings are then sent as UTF-8.
func (c *conn) utf8() bool { return c.enabled["IMAP4REV2"] || c.enabled["UTF8=ACCEPT"] }

func (c *conn) rev2() bool { return c.enabled["IMAP4REV2"] }

// newResp starts a response in the client's string encoding.
func (c *conn) newResp() *resp { return &resp{utf8: c.utf8()} }

// send writes a built response.
func (c *conn) send(r *resp) error { return c.writeBytes(r.b) }

func utoa(n uint32) string { return strconv.FormatUint(uint64(n), 10) }

func utoa64(n uint64) string { return strconv.FormatUint(n, 10) }
