package imap

import (
	"errors"
	"strconv"
	"strings"

	"mailgate/mailbox"
)

// The QUOTA extension (RFC 9208), answered by the front: an account has
// one quota root, "", covering all its folders, with the STORAGE
// resource in units of 1024 octets. Usage is rounded up and the limit
// down, so that a client never sees room that is not there. An account
// without a limit has no quota root. Limits are the administrator's
// (SETQUOTA is refused, so QUOTASET is not advertised).

const setQuotaRefused = "Quotas are set by the administrator (mailgate user update ADDRESS --quota SIZE)"

// quota answers GETQUOTAROOT, GETQUOTA or SETQUOTA with its reply lines.
func (f *conn) quota(c *command) []string {
	args := c.args()
	arg, err := args.next()
	if err != nil {
		return []string{c.tag + " BAD " + c.name + ": " + err.Error()}
	}
	if c.name == "SETQUOTA" {
		return []string{c.tag + " NO [NOPERM] " + setQuotaRefused}
	}
	if !args.end() {
		return []string{c.tag + " BAD " + c.name + " takes one argument"}
	}
	account := f.sess.account
	used, limit, err := f.srv.opts.Store.Usage(account)
	if err != nil {
		f.log.Error("imap quota lookup failed", "account", account, "err", cleanLog(err.Error()))
		return []string{c.tag + " NO [SERVERBUG] Internal error; try again later"}
	}
	usage := `* QUOTA "" (STORAGE ` + strconv.FormatInt((used+1023)/1024, 10) + " " + strconv.FormatInt(limit/1024, 10) + ")"
	if c.name == "GETQUOTA" {
		if arg != "" || limit <= 0 {
			return []string{c.tag + " NO [NONEXISTENT] No such quota root"}
		}
		return []string{usage, c.tag + " OK GETQUOTA completed"}
	}
	name, refusal := f.quotaMailbox(arg)
	if refusal != "" {
		return []string{c.tag + " " + refusal}
	}
	if limit <= 0 {
		return []string{"* QUOTAROOT " + name, c.tag + " OK GETQUOTAROOT completed"}
	}
	return []string{"* QUOTAROOT " + name + ` ""`, usage, c.tag + " OK GETQUOTAROOT completed"}
}

// quotaMailbox checks GETQUOTAROOT's mailbox and returns it as the reply
// writes it, or the refusal (status, code and text).
func (f *conn) quotaMailbox(arg string) (wire, refusal string) {
	name := mailbox.Inbox
	if !strings.EqualFold(arg, mailbox.Inbox) {
		decoded, err := decodeMUTF7(arg)
		if err != nil {
			return "", "BAD Mailbox name is not valid modified UTF-7 (RFC 3501 5.1.3) or UTF-8"
		}
		canon, err := mailbox.CanonicalFolder(decoded)
		var ne *mailbox.NameError
		if errors.As(err, &ne) {
			return "", "NO [CANNOT] Mailbox name " + ne.Reason
		} else if err != nil {
			return "", "NO [NONEXISTENT] No such mailbox"
		}
		name = canon
	}
	if !f.srv.opts.Store.FolderExists(f.sess.account, name) {
		return "", "NO [NONEXISTENT] No such mailbox"
	}
	if name == mailbox.Inbox {
		return name, ""
	}
	if f.utf8Names() {
		return quoteString(strings.ReplaceAll(name, "&", "&-")), ""
	}
	return quoteString(encodeMUTF7(name)), ""
}

// utf8Names reports whether the client enabled UTF-8 mailbox names.
func (f *conn) utf8Names() bool {
	return f.utf8()
}

func quoteString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}
