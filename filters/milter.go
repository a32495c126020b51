package filters

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-milter"
	"github.com/emersion/go-smtp"

	"mailgate/config"
	"mailgate/internal/mailmsg"
)

// milterFilter hands each message to an external milter (rspamd, or any
// Postfix-compatible milter) at DATA and applies its answer. A milter that
// is down or slow gives the "error" result (default: tempfail); the whole
// conversation is bounded by the configured timeout, so it never hangs.
type milterFilter struct {
	network, address string
	connectTimeout   time.Duration
	timeout          time.Duration
	hostname         string
	log              *slog.Logger
}

func newMilter(c *MilterConfig, cfg *config.Config, deps Deps) (*milterFilter, error) {
	network, address := "tcp", c.Address
	if strings.HasPrefix(address, "unix:") {
		network, address = "unix", strings.TrimPrefix(address, "unix:")
	}
	return &milterFilter{network: network, address: address, connectTimeout: c.ConnectTimeout.D(),
		timeout: c.Timeout.D(), hostname: cfg.Hostname, log: deps.Logger}, nil
}

func (f *milterFilter) Name() string             { return "milter" }
func (f *milterFilter) Begin(conn *Conn) Session { return f }
func (f *milterFilter) Close()                   {}

// deadlineDialer dials the milter and caps every read and write deadline
// go-milter sets at one absolute deadline for the whole message.
type deadlineDialer struct {
	d        net.Dialer
	deadline time.Time
}

func (d *deadlineDialer) Dial(network, addr string) (net.Conn, error) {
	c, err := d.d.Dial(network, addr)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(d.deadline)
	return &cappedConn{Conn: c, deadline: d.deadline}, nil
}

type cappedConn struct {
	net.Conn
	deadline time.Time
}

func (c *cappedConn) capped(t time.Time) time.Time {
	if t.IsZero() || t.After(c.deadline) {
		return c.deadline
	}
	return t
}
func (c *cappedConn) SetReadDeadline(t time.Time) error  { return c.Conn.SetReadDeadline(c.capped(t)) }
func (c *cappedConn) SetWriteDeadline(t time.Time) error { return c.Conn.SetWriteDeadline(c.capped(t)) }
func (c *cappedConn) SetDeadline(t time.Time) error      { return c.Conn.SetDeadline(c.capped(t)) }

// CheckData runs one milter conversation for the message.
func (f *milterFilter) CheckData(ctx context.Context, st *State, msg *Message) Verdict {
	deadline := time.Now().Add(f.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	client := milter.NewClientWithOptions(f.network, f.address, milter.ClientOptions{
		Dialer:       &deadlineDialer{d: net.Dialer{Timeout: f.connectTimeout, Deadline: deadline}, deadline: deadline},
		ReadTimeout:  f.timeout,
		WriteTimeout: f.timeout,
		ActionMask:   milter.OptAddHeader | milter.OptChangeHeader | milter.OptQuarantine | milter.OptChangeBody,
	})
	sess, err := client.Session()
	if err != nil {
		return milterError(err)
	}
	defer sess.Close()
	head := append(append([]byte{}, msg.Prepend...), msg.Header...)
	mods, act, err := f.converse(sess, st, head, bodyReader(msg.Body))
	if err != nil {
		return milterError(err)
	}
	v := milterVerdict(act)
	if v.Result == "accept" || v.Result == "quarantine" {
		if apply(mods, msg, head) {
			v.Result = "quarantine"
		}
	}
	return v
}

// converse sends connection, envelope, header (head: Prepend+Header) and
// body (streamed); it stops at the first answer other than continue.
func (f *milterFilter) converse(s *milter.ClientSession, st *State, head []byte, body io.Reader) ([]milter.ModifyAction, *milter.Action, error) {
	c := st.Conn
	family, ip := milter.FamilyUnknown, ""
	if c.IP != nil {
		family, ip = milter.FamilyInet6, c.IP.String()
		if c.IP.To4() != nil {
			family = milter.FamilyInet
		}
	}
	steps := []func() (*milter.Action, error){
		func() (*milter.Action, error) {
			if err := s.Macros(milter.CodeConn, "j", f.hostname, "{daemon_name}", "mailgate", "i", c.SessionID); err != nil {
				return nil, err
			}
			return s.Conn("["+ip+"]", family, 0, ip)
		},
		func() (*milter.Action, error) {
			if c.TLS != nil { // Postfix's names, which rspamd reads
				if err := s.Macros(milter.CodeHelo, "{tls_version}", tls.VersionName(c.TLS.Version),
					"{cipher}", tls.CipherSuiteName(c.TLS.CipherSuite)); err != nil {
					return nil, err
				}
			}
			return s.Helo(c.Helo)
		},
		func() (*milter.Action, error) {
			if err := s.Macros(milter.CodeMail, "{auth_authen}", c.Account, "{mail_addr}", st.From); err != nil {
				return nil, err
			}
			return s.Mail("<"+st.From+">", nil)
		},
	}
	for _, rcpt := range st.Rcpts {
		steps = append(steps, func() (*milter.Action, error) { return s.Rcpt("<"+rcpt+">", nil) })
	}
	fields, _ := headerFields(head)
	for _, fl := range fields {
		steps = append(steps, func() (*milter.Action, error) {
			return s.HeaderField(fl.Name, strings.TrimRight(strings.TrimPrefix(string(fl.Raw[len(fl.Name)+1:]), " "), "\r\n"))
		})
	}
	steps = append(steps, s.HeaderEnd)
	for _, step := range steps {
		act, err := step()
		if err != nil {
			return nil, nil, err
		}
		if act.Code != milter.ActContinue {
			return nil, act, nil
		}
	}
	return s.BodyReadFrom(body)
}

func milterError(err error) Verdict {
	return Verdict{Result: "error", Reason: err.Error(), Reply: &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 1},
		Message: "The message could not be scanned right now; try again later"}}
}

// milterVerdict maps the milter's final answer to a result; a reply code
// of its own is passed on, cleaned.
func milterVerdict(act *milter.Action) Verdict {
	reject := &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Message refused by the content filter"}
	switch act.Code {
	case milter.ActAccept, milter.ActContinue:
		return Verdict{Result: "accept"}
	case milter.ActDiscard:
		return Verdict{Result: "discard"}
	case milter.ActReject:
		return Verdict{Result: "reject", Reply: reject}
	case milter.ActTempFail:
		return Verdict{Result: "tempfail", Reply: &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 1},
			Message: "The content filter asks to try again later"}}
	case milter.ActReplyCode:
		r := parseMilterReply(act.SMTPCode, act.SMTPText)
		if r.Code >= 500 {
			return Verdict{Result: "reject", Reply: r, Reason: r.Message}
		}
		return Verdict{Result: "tempfail", Reply: r, Reason: r.Message}
	}
	return Verdict{Result: "error", Reason: fmt.Sprintf("unexpected milter action %q", act.Code), Reply: milterError(nil).Reply}
}

// parseMilterReply splits "5.7.1 text" into the enhanced code and text.
func parseMilterReply(code int, text string) *smtp.SMTPError {
	r := &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode{code / 100, 7, 1}, Message: mailmsg.Clean(text)}
	var a, b, c int
	if first, rest, ok := strings.Cut(r.Message, " "); ok {
		if n, _ := fmt.Sscanf(first, "%d.%d.%d", &a, &b, &c); n == 3 && a == code/100 {
			r.EnhancedCode, r.Message = smtp.EnhancedCode{a, b, c}, rest
		}
	}
	if code < 400 || code > 599 {
		r.Code, r.EnhancedCode = 550, smtp.EnhancedCode{5, 7, 1}
	}
	return r
}
