package imap

import (
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"strconv"
	"strings"
	"time"
)

// Commands of any state and of the not-authenticated state: the
// capabilities, TLS and login.

func (c *conn) cmdCapability(cmd *command) error {
	if !c.noArgs(cmd) {
		return c.write(cmd.tag + " BAD CAPABILITY takes no arguments")
	}
	c.write("* CAPABILITY " + c.capabilities())
	return c.write(cmd.tag + " OK CAPABILITY completed")
}

// capabilities is the list for the current state. Before login it
// tells how to log in; after, every extension served.
func (c *conn) capabilities() string {
	c.mu.Lock()
	authed, isTLS := c.authed, c.isTLS
	c.mu.Unlock()
	l := []string{"IMAP4rev2", "IMAP4rev1", "SASL-IR", "LITERAL-"}
	if !authed {
		if c.srv.opts.TLS != nil && !isTLS {
			l = append(l, "STARTTLS")
		}
		if c.authAllowed() {
			return strings.Join(append(l, "AUTH=PLAIN", "ID"), " ")
		}
		return strings.Join(append(l, "LOGINDISABLED", "ID"), " ")
	}
	l = append(l, "UNSELECT", "ENABLE", "IDLE", "UTF8=ACCEPT", "NAMESPACE", "UIDPLUS", "ESEARCH", "SEARCHRES",
		"LIST-EXTENDED", "LIST-STATUS", "MOVE", "STATUS=SIZE", "BINARY", "CHILDREN", "SPECIAL-USE",
		"LITERAL+", "APPENDLIMIT="+strconv.FormatUint(uint64(c.sess.AppendLimit()), 10),
		"QUOTA", "QUOTA=RES-STORAGE", "SORT", "SORT=DISPLAY", "ESORT", "CONTEXT=SEARCH", "CONTEXT=SORT", "THREAD=ORDEREDSUBJECT", "THREAD=REFERENCES",
		"MULTIAPPEND", "CATENATE", "NOTIFY", "ID", "CONDSTORE", "QRESYNC", "PARTIAL")
	return strings.Join(l, " ")
}

func (c *conn) cmdNoop(cmd *command) error {
	if !c.noArgs(cmd) {
		return c.write(cmd.tag + " BAD " + cmd.name + " takes no arguments")
	}
	if cmd.name == "CHECK" && c.sess.sel != nil {
		// Every session's CHECK of the mailbox at this moment reports
		// the same messages (checkpoint.go).
		end := c.srv.checkpoints.check(c.sess.account, c.sess.sel.name)
		err := c.poll(true)
		end()
		if err != nil {
			return err
		}
	} else if err := c.poll(true); err != nil {
		return err
	}
	return c.write(cmd.tag + " OK " + cmd.name + " completed")
}

func (c *conn) cmdLogout(cmd *command) error {
	c.write("* BYE Logging out")
	c.state = stateLogout
	return c.write(cmd.tag + " OK LOGOUT completed")
}

func (c *conn) cmdID(cmd *command) error {
	c.srv.metrics.commands.WithLabelValues("ID").Inc()
	for _, l := range c.id(cmd) {
		if err := c.write(l); err != nil {
			return err
		}
	}
	return nil
}

// cmdStartTLS answers STARTTLS and runs the handshake. Bytes the client
// sent after the command, before TLS, are dropped: run inside TLS they
// would be commands injected by whoever sits on the path.
func (c *conn) cmdStartTLS(cmd *command) error {
	c.mu.Lock()
	isTLS := c.isTLS
	c.mu.Unlock()
	switch {
	case !c.noArgs(cmd):
		return c.write(cmd.tag + " BAD STARTTLS takes no arguments")
	case c.srv.opts.TLS == nil:
		return c.write(cmd.tag + " NO STARTTLS not supported")
	case isTLS:
		return c.write(cmd.tag + " BAD STARTTLS not available")
	}
	c.write(cmd.tag + " OK Begin TLS negotiation now")
	if err := c.flush(); err != nil {
		return err
	}
	if n := c.br.Buffered(); n > 0 {
		c.log.Info("imap STARTTLS: dropped bytes sent after the command in clear text", "bytes", n)
	}
	tc := tls.Server(c.raw, c.srv.opts.TLS)
	c.raw.SetDeadline(time.Now().Add(30 * time.Second))
	if err := tc.Handshake(); err != nil {
		c.log.Debug("imap STARTTLS handshake failed", "err", err.Error())
		c.raw.Close()
		return errClosed
	}
	c.raw.SetDeadline(time.Time{})
	c.mu.Lock()
	c.nc, c.isTLS = tc, true
	c.mu.Unlock()
	c.br.Reset(c)
	return nil
}

// privacyRequired refuses a login in clear text.
const privacyRequired = " NO [PRIVACYREQUIRED] TLS is required to authenticate"

func (c *conn) cmdLogin(cmd *command) error {
	if !c.authAllowed() {
		return c.write(cmd.tag + privacyRequired)
	}
	args := cmd.args()
	user, err := args.next()
	if err != nil {
		return c.bad(cmd, err)
	}
	pass, err := args.next()
	if err != nil || !args.end() {
		return c.write(cmd.tag + " BAD LOGIN takes a user name and a password")
	}
	return c.login(cmd, user, pass, "Logged in")
}

// login checks the credentials and, when they are good, moves to the
// authenticated state.
func (c *conn) login(cmd *command, user, pass, ok string) error {
	if err := c.sess.Login(user, pass); err != nil {
		if c.sess.failures >= c.srv.opts.MaxLoginFailures {
			c.srv.metrics.closed.WithLabelValues("login_failures").Inc()
			c.finish(cmd, err, "")
			return c.bye("Too many failed logins")
		}
		return c.finish(cmd, err, "")
	}
	c.mu.Lock()
	c.authed = true
	c.mu.Unlock()
	c.state = stateAuth
	c.srv.watchAccount(c, c.sess.account)
	return c.write(cmd.tag + " OK [CAPABILITY " + c.capabilities() + "] " + ok)
}

// cmdAuthenticate runs SASL PLAIN, with or without an initial response
// (SASL-IR).
func (c *conn) cmdAuthenticate(cmd *command) error {
	if !c.authAllowed() {
		return c.write(cmd.tag + privacyRequired)
	}
	args := cmd.args()
	mech, err := args.next()
	if err != nil {
		return c.bad(cmd, err)
	}
	if !strings.EqualFold(mech, "PLAIN") {
		return c.write(cmd.tag + " NO [CANNOT] Only AUTHENTICATE PLAIN is supported")
	}
	var ir string
	if !args.end() {
		if ir, err = args.next(); err != nil || !args.end() {
			return c.write(cmd.tag + " BAD AUTHENTICATE PLAIN takes at most an initial response")
		}
	} else {
		c.write("+ =") // an empty challenge
		line, err := c.readLine(&command{})
		if err != nil {
			return err
		}
		ir = string(line)
	}
	if ir == "*" {
		return c.write(cmd.tag + " BAD AUTHENTICATE cancelled")
	}
	if ir == "=" {
		ir = ""
	}
	raw, err := base64.StdEncoding.DecodeString(ir)
	if err != nil {
		return c.write(cmd.tag + " BAD AUTHENTICATE: the response is not valid base64")
	}
	parts := bytes.Split(raw, []byte{0})
	if len(parts) != 3 || len(parts[0]) > 0 && !bytes.Equal(parts[0], parts[1]) {
		return c.write(cmd.tag + " NO [AUTHENTICATIONFAILED] Authentication failed")
	}
	return c.login(cmd, string(parts[1]), string(parts[2]), "PLAIN authentication successful")
}

// cmdEnable turns on what the client asks for among what needs it
// (RFC 5161): IMAP4rev2, UTF8=ACCEPT, CONDSTORE and QRESYNC (condstore.go).
func (c *conn) cmdEnable(cmd *command) error {
	args := cmd.args()
	var on []string
	for !args.end() {
		name, err := args.next()
		if err != nil {
			return c.bad(cmd, err)
		}
		if c.enable(strings.ToUpper(name)) {
			on = append(on, name)
		}
	}
	if len(on) == 0 && len(cmd.text[0]) <= len(cmd.tag)+len(" ENABLE") {
		return c.write(cmd.tag + " BAD ENABLE needs at least one capability")
	}
	c.write(strings.TrimSpace("* ENABLED " + strings.Join(on, " ")))
	return c.write(cmd.tag + " OK ENABLE completed")
}

func (c *conn) cmdNamespace(cmd *command) error {
	if !c.noArgs(cmd) {
		return c.write(cmd.tag + " BAD NAMESPACE takes no arguments")
	}
	c.write(`* NAMESPACE (("" "/")) NIL NIL`)
	return c.write(cmd.tag + " OK NAMESPACE completed")
}

func (c *conn) cmdQuota(cmd *command) error { return c.lines(c.quota(cmd)) }
func (c *conn) cmdSort(cmd *command) error {
	return c.lines(c.sortCommand(cmd, cmd.name == "UID SORT"))
}
func (c *conn) cmdThread(cmd *command) error {
	return c.lines(c.threadCommand(cmd, cmd.name == "UID THREAD"))
}

// lines writes response lines built as strings.
func (c *conn) lines(ls []string) error {
	for _, l := range ls {
		if err := c.write(l); err != nil {
			return err
		}
	}
	return nil
}
