package delivery

import (
	"errors"
	"fmt"

	"mailgate/internal/mailmsg"

	"github.com/emersion/go-smtp"
)

// tempErr and permErr build errors for failures that are ours.
func tempErr(cmd, mta, enhanced, reason string, cause error) *mailmsg.Error {
	return &mailmsg.Error{Code: 451, Enhanced: enhanced, Command: cmd, RemoteMTA: mta, Reason: mailmsg.Clean(reason), Err: cause}
}

func permErr(cmd, mta, enhanced, reason string, cause error) *mailmsg.Error {
	return &mailmsg.Error{Permanent: true, Code: 550, Enhanced: enhanced, Command: cmd, RemoteMTA: mta, Reason: mailmsg.Clean(reason), Err: cause}
}

// remoteErr turns what the client library returned into an *Error. SMTP
// replies keep their code; anything else (timeouts, resets, EOF) is a
// temporary network failure.
func remoteErr(cmd, mta string, err error) *mailmsg.Error {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		enh := se.EnhancedCode
		enhanced := fmt.Sprintf("%d.%d.%d", enh[0], enh[1], enh[2])
		line := fmt.Sprintf("%d %s %s", se.Code, enhanced, se.Message)
		if enh == smtp.NoEnhancedCode || enh[0] == 0 {
			enhanced = fmt.Sprintf("%d.0.0", se.Code/100)
			line = fmt.Sprintf("%d %s", se.Code, se.Message)
		}
		return &mailmsg.Error{
			Permanent: se.Code >= 500, Code: se.Code, Enhanced: enhanced,
			Command: cmd, RemoteLine: mailmsg.Clean(line), RemoteMTA: mta, Err: err,
		}
	}
	reason := "connection failed: " + err.Error()
	if cmd == mailmsg.CmdData {
		reason = "connection lost during DATA: " + err.Error()
	}
	return tempErr(cmd, mta, "4.4.2", reason, err)
}
