package managesieve

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"

	"mailgate/sieve"
	"mailgate/sieve/scripts"
)

type command struct {
	args int
	run  func(ss *session, args []string)
}

// commands are those that need a login.
var commands = map[string]command{
	"LISTSCRIPTS":  {0, (*session).listScripts},
	"GETSCRIPT":    {1, (*session).getScript},
	"PUTSCRIPT":    {2, (*session).putScript},
	"CHECKSCRIPT":  {1, (*session).checkScript},
	"SETACTIVE":    {1, (*session).setActive},
	"DELETESCRIPT": {1, (*session).deleteScript},
	"RENAMESCRIPT": {2, (*session).renameScript},
	"HAVESPACE":    {2, (*session).haveSpace},
}

func (ss *session) count(cmd string, err error) {
	res := "ok"
	if err != nil {
		res = "no"
	}
	ss.srv.metrics.commands.WithLabelValues(strings.ToLower(cmd), res).Inc()
}

// result answers a store operation: OK, or NO with the RFC 5804
// response code that tells the client what to fix.
func (ss *session) result(cmd string, err error, okText string) {
	ss.count(cmd, err)
	var se *sieve.Error
	switch {
	case err == nil:
		ss.ok("", okText)
	case errors.As(err, &se):
		ss.no("", "The script has an error: "+se.Error())
	case errors.Is(err, scripts.ErrNoScript):
		ss.no("NONEXISTENT", "There is no script by that name.")
	case errors.Is(err, scripts.ErrActive):
		ss.no("ACTIVE", "The script is active; activate another one (or none) first.")
	case errors.Is(err, scripts.ErrExists):
		ss.no("ALREADYEXISTS", "A script by that name exists already.")
	case errors.Is(err, scripts.ErrTooLarge):
		ss.no("QUOTA/MAXSIZE", "The script is larger than the limit of "+itoa(ss.maxScript())+" bytes.")
	case errors.Is(err, scripts.ErrTooMany):
		ss.no("QUOTA/MAXSCRIPTS", "You have as many scripts as allowed ("+itoa(ss.srv.opts.Scripts.Limits().MaxScripts)+"); delete one first.")
	case errors.Is(err, scripts.ErrBadName):
		ss.no("", "A script name is 1 to 128 characters, without control characters.")
	default:
		ss.srv.log.Error("managesieve store error", "account", ss.account, "command", cmd, "err", clean(err.Error()))
		ss.no("TRYLATER", "Internal error; try again later.")
	}
}

func (ss *session) listScripts(args []string) {
	list, err := ss.srv.opts.Scripts.List(ss.account)
	if err != nil {
		ss.result("LISTSCRIPTS", err, "")
		return
	}
	for _, i := range list {
		if i.Active {
			ss.line(quote(i.Name) + " ACTIVE")
		} else {
			ss.line(quote(i.Name))
		}
	}
	ss.result("LISTSCRIPTS", nil, "Listed.")
}

func (ss *session) getScript(args []string) {
	src, err := ss.srv.opts.Scripts.Get(ss.account, args[0])
	if err == nil {
		ss.line("{" + strconv.Itoa(len(src)) + "}")
		ss.w.Write(src)
		ss.line("")
	}
	ss.result("GETSCRIPT", err, "Done.")
}

func (ss *session) putScript(args []string) {
	err := ss.srv.opts.Scripts.Put(ss.account, args[0], []byte(args[1]))
	if err == nil {
		ss.srv.log.Info("managesieve script stored", "account", ss.account, "script", clean(args[0]), "size", len(args[1]))
	}
	ss.result("PUTSCRIPT", err, "Stored.")
}

func (ss *session) checkScript(args []string) {
	ss.result("CHECKSCRIPT", ss.srv.opts.Scripts.Check([]byte(args[0])), "The script is valid.")
}

func (ss *session) setActive(args []string) {
	err := ss.srv.opts.Scripts.SetActive(ss.account, args[0])
	if err == nil {
		ss.srv.log.Info("managesieve script activated", "account", ss.account, "script", clean(args[0]))
	}
	ss.result("SETACTIVE", err, "Active script set.")
}

func (ss *session) deleteScript(args []string) {
	ss.result("DELETESCRIPT", ss.srv.opts.Scripts.Delete(ss.account, args[0]), "Deleted.")
}

func (ss *session) renameScript(args []string) {
	ss.result("RENAMESCRIPT", ss.srv.opts.Scripts.Rename(ss.account, args[0], args[1]), "Renamed.")
}

func (ss *session) haveSpace(args []string) {
	n, err := strconv.ParseInt(args[1], 10, 64)
	if err != nil || n < 0 {
		ss.no("", "HAVESPACE takes a script name and a size in bytes.")
		return
	}
	ss.result("HAVESPACE", ss.srv.opts.Scripts.HaveSpace(ss.account, args[0], n), "Putscript would succeed.")
}

// authenticate runs AUTHENTICATE "PLAIN" (RFC 5804 section 2.1, RFC
// 4616), with the login throttle shared with the other protocols.
func (ss *session) authenticate(args []string) bool {
	switch {
	case ss.account != "":
		ss.no("", "Already logged in.")
		return true
	case !ss.canAuth():
		ss.no("ENCRYPT-NEEDED", "Use STARTTLS first.")
		return true
	case len(args) == 0 || !strings.EqualFold(args[0], "PLAIN"):
		ss.no("", "Only the PLAIN mechanism is offered.")
		return true
	}
	if l := ss.srv.opts.Logins; l != nil && l.Locked(ss.ip) {
		ss.srv.metrics.logins.WithLabelValues("locked").Inc()
		ss.no("TRYLATER", "Too many failed logins from your address; try again later.")
		return true
	}
	resp, ok := ss.saslResponse(args)
	if !ok {
		return ss.failures < maxAuthFailures
	}
	return ss.plainLogin(resp)
}

// saslResponse returns the client's PLAIN response, asking for it with
// an empty challenge when it was not given with the command.
func (ss *session) saslResponse(args []string) (string, bool) {
	if len(args) > 1 {
		return args[1], true
	}
	ss.line(`""`)
	if ss.flush() != nil {
		return "", false
	}
	line, err := ss.r.readLine()
	if err != nil {
		return "", false
	}
	tok := strings.TrimSpace(line)
	if strings.HasPrefix(tok, "\"") {
		tok, _, err = quoted(tok)
	}
	if err != nil || tok == "*" {
		ss.no("", "Authentication cancelled.")
		return "", false
	}
	return tok, true
}

func (ss *session) plainLogin(resp string) bool {
	raw, err := base64.StdEncoding.DecodeString(resp)
	parts := bytes.Split(raw, []byte{0})
	if err != nil || len(parts) != 3 {
		ss.no("", "The PLAIN response is base64 of authzid NUL user NUL password.")
		return true
	}
	authz, user, pass := string(parts[0]), string(parts[1]), string(parts[2])
	if l := ss.srv.opts.Logins; l != nil && l.Refused(ss.ip, user) {
		ss.srv.metrics.logins.WithLabelValues("locked").Inc()
		ss.no("TRYLATER", "Too many failed logins from your address or for this account; try again later.")
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	account, err := ss.srv.opts.Auth.Authenticate(ctx, user, pass)
	if err == nil && authz != "" && !strings.EqualFold(authz, user) && !strings.EqualFold(authz, account) {
		err = errors.New("authorization identity differs")
	}
	if err != nil {
		return ss.loginFailed(user)
	}
	if l := ss.srv.opts.Logins; l != nil {
		l.Succeed(ss.ip, user)
	}
	ss.account = account
	ss.srv.metrics.logins.WithLabelValues("ok").Inc()
	ss.srv.log.Info("managesieve login", "account", account, "ip", ss.ip)
	ss.ok("", "Logged in.")
	return true
}

// loginFailed counts, waits and answers a failed login; the connection
// ends after maxAuthFailures.
func (ss *session) loginFailed(user string) bool {
	ss.failures++
	if l := ss.srv.opts.Logins; l != nil {
		l.Fail(ss.ip, user)
	}
	ss.srv.metrics.logins.WithLabelValues("failed").Inc()
	ss.srv.log.Info("managesieve login failed", "user", clean(user), "ip", ss.ip)
	time.Sleep(ss.srv.opts.AuthFailureDelay)
	if ss.failures >= maxAuthFailures {
		ss.bye("", "Too many failed logins.")
		return false
	}
	ss.no("", "Authentication failed.")
	return true
}
