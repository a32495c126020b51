package delivery

import (
	"bufio"
	"errors"
	"fmt"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-smtp"
)

// go-smtp's client waits for each reply before the next command. When
// the server offers PIPELINING (RFC 2920), MAIL and every RCPT go out in
// one write instead and the replies are read in order, saving a round
// trip per recipient. DATA then goes through the client as usual: the
// client holds no state from MAIL and RCPT that DATA needs, and at this
// point the server has sent nothing the client has not read.

// canPipeline reports whether req can go pipelined over s: the server
// offers it and no parameter needs encodings only go-smtp implements.
func canPipeline(s *session, req *Request) bool {
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

// pipeline sends MAIL and the RCPTs of the recipients in idx, returning
// the MAIL error and one error per RCPT (nil: accepted). A non-reply
// error means the connection broke.
func (d *dialer) pipeline(s *session, req *Request, idx []int) (error, []error) {
	var b strings.Builder
	fmt.Fprintf(&b, "MAIL FROM:<%s>%s\r\n", req.From, mailParams(s, req))
	for _, i := range idx {
		r := req.Recipients[i]
		fmt.Fprintf(&b, "RCPT TO:<%s>%s\r\n", r.Addr, rcptParams(s, r))
	}
	rcptErrs := make([]error, len(idx))
	s.stream.SetDeadline(time.Now().Add(d.timeouts.Mail))
	defer s.stream.SetDeadline(time.Time{})
	if _, err := s.stream.Write([]byte(b.String())); err != nil {
		return err, rcptErrs
	}
	tr := textproto.NewReader(bufio.NewReader(s.stream))
	mailErr := readReply(tr, 250)
	for j := range idx {
		s.stream.SetDeadline(time.Now().Add(d.timeouts.Rcpt))
		rcptErrs[j] = readReply(tr, 25)
		if rcptErrs[j] != nil && !isReply(rcptErrs[j]) {
			for k := j + 1; k < len(idx); k++ {
				rcptErrs[k] = rcptErrs[j]
			}
			break
		}
	}
	if mailErr != nil {
		// The RCPT replies (503 "need MAIL") were read and say nothing new.
		for j := range rcptErrs {
			if isReply(rcptErrs[j]) {
				rcptErrs[j] = mailErr
			}
		}
	}
	return mailErr, rcptErrs
}

// readReply reads one reply; a code other than expect becomes an
// *smtp.SMTPError, as go-smtp's client would return.
func readReply(tr *textproto.Reader, expect int) error {
	code, msg, err := tr.ReadResponse(expect)
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
func mailParams(s *session, req *Request) string {
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
func rcptParams(s *session, r Rcpt) string {
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
