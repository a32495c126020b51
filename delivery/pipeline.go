package delivery

import (
	"bufio"
	"errors"
	"fmt"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"mailgate/internal/mailmsg"
	"mailgate/internal/smtpdata"

	"github.com/emersion/go-smtp"
)

// go-smtp's client waits for each reply before the next command. When
// the server offers PIPELINING (RFC 2920), MAIL, every RCPT and DATA go
// out in one write instead and the replies are read in order, saving a
// round trip per recipient and one for DATA (as Postfix's client does).
// The content and its end then go over the same connection and reader,
// bypassing go-smtp's client, which holds no state from these commands;
// afterwards the server has sent nothing that was not read.

// canPipeline reports whether req can go pipelined over s: the server
// offers it and no parameter needs encodings only go-smtp implements.
func canPipeline(s *session, req *mailmsg.Attempt) bool {
	if ok, _ := s.c.Extension("PIPELINING"); !ok || s.stream == nil {
		return false
	}
	for _, r := range req.Recipients {
		if typ, _, _ := strings.Cut(r.ORCPT, ";"); strings.EqualFold(typ, "utf-8") {
			return false
		}
	}
	return true
}

// piped is what a pipelined transaction leaves for its content: the
// reader its replies come on, and the reply to DATA (nil: 354, send the
// content; else why not). dataRead is false when the connection broke
// before DATA's reply could be read.
type piped struct {
	tr       *textproto.Reader
	dataErr  error
	dataRead bool
}

// pipeline sends MAIL, the RCPTs of the recipients in idx and DATA,
// returning the MAIL error, one error per RCPT (nil: accepted) and how
// DATA went. A non-reply error means the connection broke.
func (d *dialer) pipeline(s *session, req *mailmsg.Attempt, idx []int) (error, []error, *piped) {
	var b strings.Builder
	fmt.Fprintf(&b, "MAIL FROM:<%s>%s\r\n", req.From, mailParams(s, req))
	for _, i := range idx {
		r := req.Recipients[i]
		fmt.Fprintf(&b, "RCPT TO:<%s>%s\r\n", r.Addr, rcptParams(s, r))
	}
	b.WriteString("DATA\r\n")
	rcptErrs := make([]error, len(idx))
	p := &piped{tr: textproto.NewReader(bufio.NewReader(s.stream))}
	s.stream.SetDeadline(time.Now().Add(d.timeouts.Mail))
	defer s.stream.SetDeadline(time.Time{})
	if _, err := s.stream.Write([]byte(b.String())); err != nil {
		return err, rcptErrs, p
	}
	mailErr := readReply(p.tr, 250)
	broken := mailErr != nil && !isReply(mailErr)
	for j := range idx {
		if broken {
			rcptErrs[j] = mailErr
			continue
		}
		s.stream.SetDeadline(time.Now().Add(d.timeouts.Rcpt))
		rcptErrs[j] = readReply(p.tr, 25)
		if rcptErrs[j] != nil && !isReply(rcptErrs[j]) {
			for k := j + 1; k < len(idx); k++ {
				rcptErrs[k] = rcptErrs[j]
			}
			broken = true
			break
		}
	}
	if !broken {
		s.stream.SetDeadline(time.Now().Add(d.timeouts.DataInit))
		p.dataErr = readReply(p.tr, 354)
		p.dataRead = isReply(p.dataErr) || p.dataErr == nil
	}
	if mailErr != nil {
		// The RCPT replies (503 "need MAIL") were read and say nothing new.
		for j := range rcptErrs {
			if isReply(rcptErrs[j]) {
				rcptErrs[j] = mailErr
			}
		}
	}
	return mailErr, rcptErrs, p
}

// pipedData sends the content after a pipelined DATA got 354, and ends
// it, in the same writes; then reads the reply to the end of data.
func (d *dialer) pipedData(s *session, req *mailmsg.Attempt, p *piped) (string, error) {
	if err := writeStuffedThen(s.stream, smtpdata.Normalize(req.Body), []byte(".\r\n"), d.timeouts.DataBlock); err != nil {
		return "", err
	}
	s.stream.SetReadDeadline(time.Now().Add(d.timeouts.DataEnd))
	defer s.stream.SetReadDeadline(time.Time{})
	code, msg, err := p.tr.ReadResponse(250)
	if err != nil {
		return "", replyErr(code, msg, err)
	}
	return okReply(code, msg), nil
}

// endEmptyData ends a DATA the server took with 354 although it had
// accepted no recipient (RFC 2920 section 3.1 lets a server do that):
// an empty content, whose reply says nothing about the recipients. The
// error is the connection's, never the reply's.
func (d *dialer) endEmptyData(s *session, p *piped) error {
	s.stream.SetDeadline(time.Now().Add(d.timeouts.DataEnd))
	defer s.stream.SetDeadline(time.Time{})
	if _, err := s.stream.Write([]byte(".\r\n")); err != nil {
		return err
	}
	if err := readReply(p.tr, 250); !isReply(err) {
		return err
	}
	return nil
}

// readReply reads one reply; a code other than expect becomes an
// *smtp.SMTPError, as go-smtp's client would return.
func readReply(tr *textproto.Reader, expect int) error {
	code, msg, err := tr.ReadResponse(expect)
	return replyErr(code, msg, err)
}

// replyErr makes a reply read by textproto an *smtp.SMTPError, as
// go-smtp's client would return; other errors (the connection's) pass.
func replyErr(code int, msg string, err error) error {
	var te *textproto.Error
	if !errors.As(err, &te) {
		return err
	}
	se := &smtp.SMTPError{Code: code, Message: msg, EnhancedCode: smtp.NoEnhancedCode}
	first, rest, ok := strings.Cut(msg, " ")
	if enh, good := parseEnhanced(first); ok && good {
		se.EnhancedCode = enh
		se.Message = strings.ReplaceAll(rest, "\n"+first+" ", "\n")
	}
	return se
}

func parseEnhanced(s string) (smtp.EnhancedCode, bool) {
	parts := strings.Split(s, ".")
	var e smtp.EnhancedCode
	if len(parts) != 3 {
		return e, false
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return e, false
		}
		e[i] = n
	}
	return e, true
}

// mailParams are the MAIL FROM parameters go-smtp's Mail would send.
func mailParams(s *session, req *mailmsg.Attempt) string {
	o := mailOptions(s, req)
	var b strings.Builder
	if ok, _ := s.c.Extension("8BITMIME"); ok {
		b.WriteString(" BODY=8BITMIME")
	}
	if ok, _ := s.c.Extension("SIZE"); ok && o.Size > 0 {
		fmt.Fprintf(&b, " SIZE=%d", o.Size)
	}
	if o.RequireTLS {
		b.WriteString(" REQUIRETLS")
	}
	if o.UTF8 {
		b.WriteString(" SMTPUTF8")
	}
	if o.Return != "" {
		fmt.Fprintf(&b, " RET=%s", o.Return)
	}
	if o.EnvelopeID != "" {
		fmt.Fprintf(&b, " ENVID=%s", xtext(o.EnvelopeID))
	}
	return b.String()
}

// rcptParams are the RCPT TO parameters go-smtp's Rcpt would send.
func rcptParams(s *session, r mailmsg.Recipient) string {
	o := rcptOptions(s, r)
	if o == nil {
		return ""
	}
	var b strings.Builder
	if len(o.Notify) > 0 {
		n := make([]string, len(o.Notify))
		for i, v := range o.Notify {
			n[i] = string(v)
		}
		fmt.Fprintf(&b, " NOTIFY=%s", strings.Join(n, ","))
	}
	if o.OriginalRecipientType == smtp.DSNAddressTypeRFC822 {
		fmt.Fprintf(&b, " ORCPT=%s;%s", o.OriginalRecipientType, xtext(o.OriginalRecipient))
	}
	return b.String()
}

// xtext encodes a DSN parameter (RFC 3461 §4).
func xtext(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 33 || c > 126 || c == '+' || c == '=' {
			fmt.Fprintf(&b, "+%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// okReply is a positive reply as one line for the queue's records:
// "250 2.0.0 Ok: queued as X", lines of a multi-line reply joined.
func okReply(code int, msg string) string {
	r := strings.Join(append([]string{strconv.Itoa(code)}, strings.Fields(msg)...), " ")
	if len(r) > maxReplyLen {
		r = r[:maxReplyLen]
	}
	return r
}

// maxReplyLen bounds a remote's positive reply as kept in the queue's
// records and webhook events.
const maxReplyLen = 512
