package imap

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"syscall"
)

// imapserver (beta.8) answers "NO [SERVERBUG] Internal server error" to
// every error that is not an *imap.Error, and its decoder returns plain
// errors for arguments it cannot parse: FETCH 0, SEARCH FOOBAR, a mailbox
// name that is not modified UTF-7. It logs the error just before it
// writes that answer, through the Logger we give each connection; there
// we tell the client's mistakes from our bugs, and the front rewrites
// the answer it is about to send (fixReply).

// logAdapter receives imapserver's own messages for one connection.
type logAdapter struct {
	l     *slog.Logger
	front *front
}

func (a logAdapter) Printf(format string, args ...any) {
	switch format {
	case "handling %v command: %v":
		if len(args) == 2 {
			if err, ok := args[1].(error); ok {
				a.commandFailed(fmt.Sprint(args[0]), err)
				return
			}
		}
	case "failed to read command: %v":
		if len(args) == 1 {
			if err, ok := args[0].(error); ok {
				a.readFailed(err)
				return
			}
		}
	}
	a.l.Info("imapserver", "detail", cleanLog(fmt.Sprintf(format, args...)))
}

// commandFailed sorts an error imapserver is about to answer with
// SERVERBUG: a client's mistake gets the reply that says what to fix; a
// client that has gone needs no reply; anything else is our bug.
func (a logAdapter) commandFailed(name string, err error) {
	reply := mistakeReply(name, err)
	if a.front != nil {
		a.front.noteMistake(reply) // "" disarms a mistake noted before
	}
	if clientGone(err) {
		a.l.Debug("imap command ended: connection closed", "command", name)
		return
	}
	if reply != "" {
		a.l.Debug("imap command refused", "command", name, "reply", reply)
		return
	}
	a.l.Error("imap command failed", "command", name, "err", cleanLog(err.Error()))
}

// readFailed: imapserver could not read a command and closes the
// connection. A syntax error there (a line that does not start with a
// tag and a command name) is told to the client before it goes. So is
// the case of a mistake found in a literal argument (a mailbox name
// with a NUL or CRLF): imapserver then takes the rest of that command's
// line for a new command, and fails on it.
func (a logAdapter) readFailed(err error) {
	if clientGone(err) || a.front == nil {
		return
	}
	a.l.Info("imap connection closed: unreadable command", "detail", cleanLog(err.Error()))
	if a.front.afterRefusal() {
		a.front.reply("* BYE " + literalRefused) // as the literal guard says it
		return
	}
	a.front.reply("* BYE Syntax error in a command line (" + clientDetail(err) + "); closing the connection")
}

// clientGone reports errors that mean the connection is closed or broken.
func clientGone(err error) bool {
	var ne net.Error
	return errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, os.ErrDeadlineExceeded) ||
		errors.Is(err, errFrontClosed) || errors.Is(err, errLiteralRefused) || (errors.As(err, &ne) && ne.Timeout())
}

// mistakeReply is the answer (after the tag) for a client's mistake that
// imapserver's decoder reported as a plain error, or "" when err is not
// one. The texts are the decoder's, which only says what it expected.
func mistakeReply(name string, err error) string {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "utf7: invalid UTF-7"), strings.Contains(msg, "invalid UTF-8"):
		return "NO [CANNOT] Mailbox name is not valid modified UTF-7 (RFC 3501 5.1.3): write '&' as '&-', " +
			"other non-ASCII characters in base64 between '&' and '-', and no control characters"
	case strings.HasPrefix(msg, "in search-key: ") && strings.Contains(msg, "bad number set value"):
		return "BAD [CLIENTBUG] Unknown SEARCH key or invalid sequence set (" + clientDetail(err) +
			"); message numbers and UIDs start at 1"
	case strings.Contains(msg, "bad number set value"):
		return "BAD [CLIENTBUG] Invalid sequence set (" + clientDetail(err) + "); message numbers and UIDs start at 1, use * for the last"
	case strings.HasPrefix(msg, "in search-"), strings.HasPrefix(msg, "in list-"):
		return "BAD [CLIENTBUG] " + name + " syntax error: " + clientDetail(err)
	case strings.Contains(msg, "imapwire: "), msg == "SASL response too long":
		return "BAD [CLIENTBUG] " + name + " syntax error: " + clientDetail(err)
	}
	return ""
}

// clientDetail is the decoder's message, without the package prefixes
// and cut short, fit for a reply line.
func clientDetail(err error) string {
	s := err.Error()
	for _, p := range []string{"in command: ", "in search-key: ", "in search-return-opts: ", "in list-select-opts: ",
		"in list-return-opts: ", "imapwire: ", "imap: "} {
		s = strings.ReplaceAll(s, p, "")
	}
	return cleanLog(s)
}
