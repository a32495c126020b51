package delivery

import (
	"errors"
	"fmt"
	"strings"

	"github.com/emersion/go-smtp"
)

// Commands an Error can be about.
const (
	CmdDNS     = "DNS"
	CmdConnect = "CONNECT"
	CmdTLS     = "TLS"
	CmdAuth    = "AUTH"
	CmdMail    = "MAIL"
	CmdRcpt    = "RCPT"
	CmdData    = "DATA"
	CmdLocal   = "LOCAL"
)

// Error is why a recipient was not delivered. Permanent errors bounce;
// the others are retried by the queue.
type Error struct {
	Permanent bool
	Code      int    // SMTP reply code, ours when the remote gave none
	Enhanced  string // RFC 3463 status, e.g. "5.1.1"
	Command   string // the step that failed (Cmd* constants)
	// RemoteLine is the remote server's reply, CR/LF stripped; empty when
	// the failure was ours (DNS, connection, local store).
	RemoteLine string
	// RemoteMTA is the host that gave RemoteLine (or that we tried).
	RemoteMTA string
	// Reason explains failures that have no remote reply.
	Reason string
	Err    error // underlying cause, for logs
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Command)
	if e.RemoteMTA != "" {
		b.WriteString(" " + e.RemoteMTA)
	}
	b.WriteString(": ")
	if e.RemoteLine != "" {
		b.WriteString(e.RemoteLine)
	} else {
		fmt.Fprintf(&b, "%d %s %s", e.Code, e.Enhanced, e.Reason)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Diagnostic is the text for a DSN's Diagnostic-Code field: the remote's
// reply when there is one, else our reason.
func (e *Error) Diagnostic() string {
	if e.RemoteLine != "" {
		return e.RemoteLine
	}
	return fmt.Sprintf("%d %s %s", e.Code, e.Enhanced, e.Reason)
}

// tempErr and permErr build errors for failures that are ours.
func tempErr(cmd, mta, enhanced, reason string, cause error) *Error {
	return &Error{Code: 451, Enhanced: enhanced, Command: cmd, RemoteMTA: mta, Reason: clean(reason), Err: cause}
}

func permErr(cmd, mta, enhanced, reason string, cause error) *Error {
	return &Error{Permanent: true, Code: 550, Enhanced: enhanced, Command: cmd, RemoteMTA: mta, Reason: clean(reason), Err: cause}
}

// remoteErr turns what the client library returned into an *Error. SMTP
// replies keep their code; anything else (timeouts, resets, EOF) is a
// temporary network failure.
func remoteErr(cmd, mta string, err error) *Error {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		enh := se.EnhancedCode
		enhanced := fmt.Sprintf("%d.%d.%d", enh[0], enh[1], enh[2])
		line := fmt.Sprintf("%d %s %s", se.Code, enhanced, se.Message)
		if enh == smtp.NoEnhancedCode || enh[0] == 0 {
			enhanced = fmt.Sprintf("%d.0.0", se.Code/100)
			line = fmt.Sprintf("%d %s", se.Code, se.Message)
		}
		return &Error{
			Permanent: se.Code >= 500, Code: se.Code, Enhanced: enhanced,
			Command: cmd, RemoteLine: clean(line), RemoteMTA: mta, Err: err,
		}
	}
	reason := "connection failed: " + err.Error()
	if cmd == CmdData {
		reason = "connection lost during DATA: " + err.Error()
	}
	return tempErr(cmd, mta, "4.4.2", reason, err)
}

// clean strips CR and LF so remote text cannot forge lines in a DSN, a
// reply or a log.
func clean(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == '\r' || r == '\n' }), " ")
}
