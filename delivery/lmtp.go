package delivery

import (
	"context"
	"errors"
	"log/slog"
	"mailgate/internal/mailmsg"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"mailgate/internal/smtpdata"
)

// RouteLMTP names local delivery through an LMTP server in metrics and
// logs.
const RouteLMTP = "lmtp"

// LMTP hands local recipients to an LMTP server (RFC 2033), such as
// Dovecot's, instead of mailgate's own store. The server answers each
// recipient after the content, so one full mailbox defers or bounces that
// recipient alone; its replies become queue states as for SMTP (4xx:
// retry, 5xx: bounce). Idle connections are kept for the next message.
type LMTP struct {
	// Addr is "unix:/path" or host:port.
	Addr string
	// Hostname is the name sent in LHLO.
	Hostname    string
	Timeouts    Timeouts
	Dialer      Dialer
	IdleTimeout time.Duration
	MaxIdle     int
	Logger      *slog.Logger
	Metrics     *Metrics

	once sync.Once
	pool *pool
	d    *dialer
}

var _ Transport = (*LMTP)(nil)

// target is the pool key and the Remote-MTA of every LMTP session.
func (l *LMTP) target() target { return target{addr: l.Addr, mta: l.Addr, mode: tlsNone} }

func (l *LMTP) init() {
	l.once.Do(func() {
		l.pool = newPool(l.MaxIdle, l.IdleTimeout)
		l.d = &dialer{hostname: l.Hostname, timeouts: l.Timeouts.withDefaults(), net: l.Dialer}
		if l.d.net == nil {
			l.d.net = &net.Dialer{}
		}
	})
}

// Close ends the idle connections.
func (l *LMTP) Close() {
	l.init()
	l.pool.close()
}

// Deliver sends req to the LMTP server and reports each recipient.
func (l *LMTP) Deliver(ctx context.Context, req *mailmsg.Attempt) []mailmsg.Result {
	l.init()
	res := l.deliver(ctx, req)
	logResults(orDiscard(l.Logger), l.Metrics, RouteLMTP, l.Addr, tlsLabelNone, req, res)
	return res
}

func (l *LMTP) deliver(ctx context.Context, req *mailmsg.Attempt) []mailmsg.Result {
	t := l.target()
	if s := l.pool.get(t.key()); s != nil {
		l.Metrics.reuse(RouteLMTP)
		res, st := l.transact(ctx, s, req)
		if st != connStale {
			l.finish(s, st)
			return res
		}
		s.c.Close()
	}
	s, err := l.open(ctx, t)
	if err != nil {
		return mailmsg.AllFail(req, err)
	}
	l.Metrics.connection(RouteLMTP, tlsLabelNone)
	res, st := l.transact(ctx, s, req)
	l.finish(s, st)
	return res
}

func (l *LMTP) finish(s *session, st connState) {
	if st == connOK {
		l.pool.put(s)
		return
	}
	s.c.Close()
}

// open connects to the server and says LHLO.
func (l *LMTP) open(ctx context.Context, t target) (*session, error) {
	network, addr := "tcp", t.addr
	if p, ok := strings.CutPrefix(addr, "unix:"); ok {
		network, addr = "unix", p
	}
	dctx, cancel := context.WithTimeout(ctx, l.d.timeouts.Connect)
	raw, err := l.d.net.DialContext(dctx, network, addr)
	cancel()
	if err != nil {
		return nil, tempErr(mailmsg.CmdConnect, t.mta, "4.4.1", "cannot connect to the LMTP server "+t.addr+": "+err.Error(), err)
	}
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	defer stop()
	s := &session{raw: raw, stream: raw, t: t, tls: tlsLabelNone, c: smtp.NewClientLMTP(raw)}
	s.c.CommandTimeout = l.d.timeouts.Greeting
	if err := s.c.Hello(l.Hostname); err != nil {
		raw.Close()
		e := remoteErr(mailmsg.CmdConnect, t.mta, err)
		e.Permanent = false // the server may be starting or overloaded
		return nil, e
	}
	return s, nil
}

// transact sends MAIL, each RCPT and the content, and reads one reply
// per accepted recipient.
func (l *LMTP) transact(ctx context.Context, s *session, req *mailmsg.Attempt) ([]mailmsg.Result, connState) {
	stop := context.AfterFunc(ctx, func() { s.raw.Close() })
	defer stop()
	mta := s.t.mta
	if ok, _ := s.c.Extension("SMTPUTF8"); req.UTF8 && !ok {
		return mailmsg.AllFail(req, permErr(mailmsg.CmdMail, mta, "5.6.7", "the message needs SMTPUTF8 and the LMTP server does not offer it", nil)), connOK
	}
	if strings.ContainsAny(req.From, "\r\n<>") {
		return mailmsg.AllFail(req, permErr(mailmsg.CmdMail, mta, "5.1.7", "the sender address is malformed", nil)), connOK
	}
	opts := mailOptions(s, req)
	opts.RequireTLS = false // final delivery: REQUIRETLS governs relaying only (RFC 8689)
	s.c.CommandTimeout = l.d.timeouts.Mail
	if err := s.c.Mail(req.From, opts); err != nil {
		if !isReply(err) {
			return mailmsg.AllFail(req, remoteErr(mailmsg.CmdMail, mta, err)), connStale
		}
		e := remoteErr(mailmsg.CmdMail, mta, err)
		return mailmsg.AllFail(req, e), resetOrBreak(s, e.Code)
	}
	res, accepted, st := l.rcpts(s, req)
	if st != connOK || len(accepted) == 0 {
		if st == connOK {
			st = resetOrBreak(s, 0)
		}
		return res, st
	}
	return res, l.data(s, req, res, accepted)
}

// rcpts sends RCPT for each recipient and returns the indexes accepted.
func (l *LMTP) rcpts(s *session, req *mailmsg.Attempt) ([]mailmsg.Result, []int, connState) {
	res := make([]mailmsg.Result, len(req.Recipients))
	var accepted []int
	for i, r := range req.Recipients {
		res[i].Rcpt = r.Addr
		if strings.ContainsAny(r.Addr, "\r\n<>") {
			res[i].Err = permErr(mailmsg.CmdRcpt, s.t.mta, "5.1.3", "the recipient address is malformed", nil)
			continue
		}
		s.c.CommandTimeout = l.d.timeouts.Rcpt
		err := s.c.Rcpt(r.Addr, rcptOptions(s, r))
		switch {
		case err == nil:
			accepted = append(accepted, i)
		case isReply(err):
			res[i].Err = remoteErr(mailmsg.CmdRcpt, s.t.mta, err)
		default:
			e := remoteErr(mailmsg.CmdRcpt, s.t.mta, err)
			for j := i; j < len(res); j++ {
				res[j] = mailmsg.Result{Rcpt: req.Recipients[j].Addr, Err: e}
			}
			for _, j := range accepted {
				res[j].Err = e
			}
			return res, nil, connBroken
		}
	}
	return res, accepted, connOK
}

// data sends the content and records each accepted recipient's reply.
func (l *LMTP) data(s *session, req *mailmsg.Attempt, res []mailmsg.Result, accepted []int) connState {
	s.c.CommandTimeout = l.d.timeouts.DataInit
	w, err := s.c.Data()
	if err != nil {
		return l.d.dataRefused(s, res, accepted, err)
	}
	err = writeStuffed(s.stream, smtpdata.Normalize(req.Body), l.d.timeouts.DataBlock)
	if err == nil {
		_, err = w.Write([]byte("\r\n")) // the body's last line end, see writeStuffed
	}
	var replies map[string]*smtp.DataResponse
	if err == nil {
		s.c.SubmissionTimeout = l.d.timeouts.DataEnd
		replies, err = w.CloseWithLMTPResponse()
	}
	return lmtpResults(s.t.mta, req, res, accepted, replies, err)
}

// lmtpResults maps the per-recipient replies to DATA into res. A
// recipient with no reply of its own (the connection broke) is retried.
func lmtpResults(mta string, req *mailmsg.Attempt, res []mailmsg.Result, accepted []int, replies map[string]*smtp.DataResponse, err error) connState {
	var perRcpt smtp.LMTPDataError
	errors.As(err, &perRcpt)
	state := connOK
	for _, i := range accepted {
		addr := req.Recipients[i].Addr
		switch {
		case perRcpt[addr] != nil:
			res[i].Err = remoteErr(mailmsg.CmdData, mta, perRcpt[addr])
		case replies[addr] != nil:
		default: // no reply of its own: the connection broke or timed out
			res[i].Err = tempErr(mailmsg.CmdData, mta, "4.4.2", "connection lost before the LMTP server answered for this recipient", err)
			state = connBroken
		}
	}
	return state
}
