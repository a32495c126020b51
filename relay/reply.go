package relay

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/emersion/go-smtp"

	"mailgate/internal/mailmsg"
	"mailgate/queue"
)

// Replies mailgate sends, with the RFC that defines each enhanced code
// (RFC 3463 unless noted). Text says what the client should do.
var (
	// RFC 4954 §6: AUTH needed before MAIL on submission.
	errAuthRequired = reply(530, 5, 7, 0, "Authentication required; log in with AUTH before MAIL FROM")
	// RFC 4954 §6 / RFC 5248: encryption required for this mechanism.
	errEncryptionRequired = reply(538, 5, 7, 11, "Encryption required for requested authentication mechanism; use STARTTLS first")
	errAuthInvalid        = reply(535, 5, 7, 8, "Authentication credentials invalid")
	// RFC 4954 §6: the login this session made no longer holds.
	errAccountInactive = reply(530, 5, 7, 0, "Authentication required: the account was disabled or removed since this session logged in")
	errAuthLocked      = reply(454, 4, 7, 0, "Too many failed logins from your address or for this account; try again later")
	errAuthNotHere     = reply(502, 5, 5, 1, "AUTH is not available on this port; use the submission port")
	errRelayDenied     = reply(550, 5, 7, 1, "Relaying denied: this server only accepts mail for its own domains; authenticate on the submission port to send elsewhere")
	errAddressTrick    = reply(550, 5, 7, 1, "Relaying denied: source routes, % or ! in addresses, quoted @ and address literals are not accepted")
	errNoSuchUser      = reply(550, 5, 1, 1, "No such user here; check the recipient address")
	errBadAddress      = reply(553, 5, 1, 3, "Malformed address; write it as local-part@domain")
	errBareLineEnding  = reply(550, 5, 5, 2, "Message contains a bare CR or LF; end every line with CRLF (RFC 5321 section 2.3.8)")
	errNUL             = reply(550, 5, 6, 0, "Message contains a NUL byte, which SMTP cannot carry; encode binary content, for example with base64")
	errDiskFull        = reply(452, 4, 3, 1, "Insufficient system storage; try again later")
	errTooManyConns    = reply(421, 4, 7, 0, "Too many connections; try again later")
	errTooManyConnsIP  = reply(421, 4, 7, 0, "Too many connections from your address; try again later")
	errTooManyErrors   = reply(421, 4, 7, 0, "Too many errors; closing connection")
	errShuttingDown    = reply(421, 4, 3, 2, "Server is shutting down; try again later")
)

func reply(code, a, b, c int, msg string) *smtp.SMTPError {
	return &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode{a, b, c}, Message: msg}
}

// toReply maps any error to the SMTP reply the client sees. It is the only
// place where internal errors meet the wire: their text goes to the log,
// the client gets a generic 451 4.3.0 with the session ID to quote.
func toReply(err error, sessionID string, log *slog.Logger) *smtp.SMTPError {
	var se *smtp.SMTPError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &se):
		return &smtp.SMTPError{Code: se.Code, EnhancedCode: se.EnhancedCode, Message: mailmsg.Clean(se.Message)}
	case errors.Is(err, queue.ErrDiskFull):
		log.Error("spool disk full", "err", err)
		return errDiskFull
	}
	log.Error("internal error", "err", err)
	return reply(451, 4, 3, 0, fmt.Sprintf("Internal error; try again later (session %s)", sessionID))
}

// The account directory (LDAP) is down: logins and unknown local
// recipients are answered as temporary (RFC 4954 section 6; RFC 3463
// 4.4.3, directory server failure).
var (
	errAuthUnavailable = reply(454, 4, 7, 0, "Temporary authentication failure: the account directory is unavailable; try again later")
	errDirectoryDown   = reply(451, 4, 4, 3, "Cannot look the recipient up right now; try again later")
)
