package delivery

import (
	"context"
	"errors"
	"strings"

	"mailgate/internal/mailmsg"
	"mailgate/internal/smtpdata"

	"github.com/emersion/go-smtp"
)

// connState says what a transaction left of its connection.
type connState int

const (
	connOK     connState = iota // ready for the next message
	connBroken                  // must be closed
	connStale                   // broke before any recipient was sent: a reused connection had died; retry on a new one
)

// transact sends one message over s: MAIL, RCPT per recipient, DATA.
// Every recipient gets a result.
func (d *dialer) transact(ctx context.Context, s *session, req *mailmsg.Attempt) ([]mailmsg.Result, connState) {
	stop := context.AfterFunc(ctx, func() { s.raw.Close() })
	defer stop()
	mta := s.t.mta
	if e := checkNeeds(s, req); e != nil {
		return mailmsg.AllFail(req, e), connOK
	}
	if strings.ContainsAny(req.From, "\r\n<>") {
		return mailmsg.AllFail(req, permErr(mailmsg.CmdMail, mta, "5.1.7", "the sender address is malformed", nil)), connOK
	}
	res := make([]mailmsg.Result, len(req.Recipients))
	dsn, _ := s.c.Extension("DSN")
	var send []int
	for i, r := range req.Recipients {
		res[i].Rcpt, res[i].Relayed, res[i].NextHopDSN = r.Addr, true, dsn
		if strings.ContainsAny(r.Addr, "\r\n<>") {
			res[i].Err = permErr(mailmsg.CmdRcpt, mta, "5.1.3", "the recipient address is malformed", nil)
			continue
		}
		send = append(send, i)
	}
	if len(send) == 0 {
		return res, connOK
	}
	var mailErr error
	var rcptErrs []error
	var p *piped
	if canPipeline(s, req) {
		mailErr, rcptErrs, p = d.pipeline(s, req, send)
	} else {
		mailErr, rcptErrs = d.oneByOne(s, req, send)
	}
	if mailErr != nil {
		e := remoteErr(mailmsg.CmdMail, mta, mailErr)
		for _, i := range send {
			res[i].Err = e
		}
		if !isReply(mailErr) {
			return res, connStale // nothing was accepted: safe to retry on a new connection
		}
		if p != nil && (!p.dataRead || (p.dataErr == nil && d.endEmptyData(s, p) != nil)) {
			return res, connBroken
		}
		return res, resetOrBreak(s, e.Code)
	}
	var accepted []int
	state := connOK
	for j, i := range send {
		if err := rcptErrs[j]; err != nil {
			res[i].Err = remoteErr(mailmsg.CmdRcpt, mta, err)
			if !isReply(err) {
				state = connBroken
			}
			continue
		}
		accepted = append(accepted, i)
	}
	switch {
	case state == connBroken:
		for _, i := range accepted {
			res[i].Err = tempErr(mailmsg.CmdRcpt, mta, "4.4.2", "connection lost before DATA", nil)
		}
		return res, connBroken
	case len(accepted) == 0:
		if p != nil && p.dataErr == nil && d.endEmptyData(s, p) != nil {
			return res, connBroken
		}
		return res, resetOrBreak(s, 0)
	}
	if p != nil {
		return res, d.finishPiped(s, req, res, accepted, p)
	}
	return res, d.data(s, req, res, accepted)
}

// finishPiped ends a pipelined transaction with accepted recipients: the
// content when DATA got 354, else RSET after the refusal, as data does.
func (d *dialer) finishPiped(s *session, req *mailmsg.Attempt, res []mailmsg.Result, accepted []int, p *piped) connState {
	if p.dataErr != nil {
		return d.dataRefused(s, res, accepted, p.dataErr)
	}
	reply, err := d.pipedData(s, req, p)
	return d.dataResult(s, res, accepted, reply, err)
}

// dataRefused records a DATA command that got no 354 for every accepted
// recipient and ends the transaction with RSET, unless the connection
// broke.
func (d *dialer) dataRefused(s *session, res []mailmsg.Result, accepted []int, err error) connState {
	if st := d.dataResult(s, res, accepted, "", err); st != connOK {
		return st
	}
	return resetOrBreak(s, 0)
}

// oneByOne sends MAIL, then each RCPT after the previous reply.
func (d *dialer) oneByOne(s *session, req *mailmsg.Attempt, idx []int) (error, []error) {
	rcptErrs := make([]error, len(idx))
	s.c.CommandTimeout = d.timeouts.Mail
	if err := s.c.Mail(req.From, mailOptions(s, req)); err != nil {
		return err, rcptErrs
	}
	for j, i := range idx {
		r := req.Recipients[i]
		s.c.CommandTimeout = d.timeouts.Rcpt
		rcptErrs[j] = s.c.Rcpt(r.Addr, rcptOptions(s, r))
		if rcptErrs[j] != nil && !isReply(rcptErrs[j]) {
			for k := j + 1; k < len(idx); k++ {
				rcptErrs[k] = rcptErrs[j]
			}
			break
		}
	}
	return nil, rcptErrs
}

// data sends the message to the accepted recipients and records the
// outcome in res.
func (d *dialer) data(s *session, req *mailmsg.Attempt, res []mailmsg.Result, accepted []int) connState {
	s.c.CommandTimeout = d.timeouts.DataInit
	w, err := s.c.Data()
	if err != nil {
		return d.dataRefused(s, res, accepted, err)
	}
	err = writeStuffed(s.stream, smtpdata.Normalize(req.Body), d.timeouts.DataBlock)
	if err == nil {
		_, err = w.Write([]byte("\r\n")) // the body's last line end, see writeStuffed
	}
	var reply string
	if err == nil {
		s.c.SubmissionTimeout = d.timeouts.DataEnd
		var resp *smtp.DataResponse
		if resp, err = w.CloseWithResponse(); err == nil {
			reply = okReply(250, resp.StatusText)
		}
	}
	return d.dataResult(s, res, accepted, reply, err)
}

// dataResult records the outcome of the content (err nil: accepted,
// with the remote's reply) for every accepted recipient and says what is
// left of the connection.
func (d *dialer) dataResult(s *session, res []mailmsg.Result, accepted []int, reply string, err error) connState {
	if err == nil {
		for _, i := range accepted {
			res[i].Reply = reply
		}
		return connOK
	}
	e := remoteErr(mailmsg.CmdData, s.t.mta, err)
	for _, i := range accepted {
		res[i].Err = e
	}
	if !isReply(err) {
		return connBroken // dropped or timed out mid-DATA: temporary
	}
	if code := err.(*smtp.SMTPError).Code; code == 421 {
		return connBroken
	}
	return connOK
}

// checkNeeds refuses a message the remote cannot take as it is.
func checkNeeds(s *session, req *mailmsg.Attempt) *mailmsg.Error {
	mta := s.t.mta
	if ok, _ := s.c.Extension("SMTPUTF8"); req.UTF8 && !ok {
		return permErr(mailmsg.CmdMail, mta, "5.6.7", "the message needs SMTPUTF8 (non-ASCII addresses or headers) and "+mta+" does not offer it", nil)
	}
	if ok, _ := s.c.Extension("8BITMIME"); req.EightBit && !ok {
		return permErr(mailmsg.CmdMail, mta, "5.6.3", "the message has 8-bit content and "+mta+" does not offer 8BITMIME", nil)
	}
	if ok, _ := s.c.Extension("REQUIRETLS"); req.RequireTLS && !ok {
		return permErr(mailmsg.CmdMail, mta, "5.7.30", "the sender asked for REQUIRETLS and "+mta+" does not offer it", nil)
	}
	return nil
}

func mailOptions(s *session, req *mailmsg.Attempt) *smtp.MailOptions {
	o := &smtp.MailOptions{UTF8: req.UTF8, RequireTLS: req.RequireTLS, Size: int64(len(req.Body))}
	if ok, _ := s.c.Extension("DSN"); !ok {
		return o
	}
	switch r := smtp.DSNReturn(strings.ToUpper(req.Ret)); r {
	case smtp.DSNReturnFull, smtp.DSNReturnHeaders:
		o.Return = r
	}
	if printable(req.EnvID) {
		o.EnvelopeID = req.EnvID
	}
	return o
}

// rcptOptions passes NOTIFY and ORCPT on when they are well formed, since
// go-smtp fails the command on malformed ones.
func rcptOptions(s *session, r mailmsg.Recipient) *smtp.RcptOptions {
	if ok, _ := s.c.Extension("DSN"); !ok {
		return nil
	}
	o := &smtp.RcptOptions{}
	if notify, ok := parseNotify(r.Notify); ok {
		o.Notify = notify
	}
	typ, addr, found := strings.Cut(r.ORCPT, ";")
	switch {
	case !found || addr == "":
	case strings.EqualFold(typ, "rfc822") && printable(addr):
		o.OriginalRecipientType, o.OriginalRecipient = smtp.DSNAddressTypeRFC822, addr
	case strings.EqualFold(typ, "utf-8") && !strings.ContainsAny(addr, "\r\n"):
		o.OriginalRecipientType, o.OriginalRecipient = smtp.DSNAddressTypeUTF8, addr
	}
	return o
}

func parseNotify(in []string) ([]smtp.DSNNotify, bool) {
	if len(in) == 0 {
		return nil, false
	}
	var out []smtp.DSNNotify
	for _, n := range in {
		v := smtp.DSNNotify(strings.ToUpper(n))
		switch v {
		case smtp.DSNNotifyNever:
			if len(in) > 1 {
				return nil, false
			}
		case smtp.DSNNotifySuccess, smtp.DSNNotifyFailure, smtp.DSNNotifyDelayed:
		default:
			return nil, false
		}
		out = append(out, v)
	}
	return out, true
}

func printable(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 33 || s[i] > 126 {
			return false
		}
	}
	return true
}

// isReply reports whether err is the server's reply rather than a broken
// connection.
func isReply(err error) bool {
	var se *smtp.SMTPError
	return errors.As(err, &se)
}

// resetOrBreak ends a failed transaction with RSET so the connection can
// carry the next message; 421 means the server is closing.
func resetOrBreak(s *session, code int) connState {
	if code == 421 {
		return connBroken
	}
	if err := s.c.Reset(); err != nil {
		return connBroken
	}
	return connOK
}
