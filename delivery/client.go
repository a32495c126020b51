package delivery

import (
	"context"
	"errors"
	"log/slog"

	"mailgate/internal/mailmsg"
)

// client sends requests to hosts through pooled sessions; Remote and
// Smarthost each own one.
type client struct {
	route   string
	dialer  *dialer
	pool    *pool
	metrics *Metrics
	// ready runs on each new session before its first message (AUTH).
	ready func(*session) error
}

// sent describes the session a request went over.
type sent struct {
	tls       string // tlsLabel*
	reused    bool
	verifyErr error // why an opportunistic certificate did not verify
}

// send delivers req over a session to t: a pooled one if there is one
// that meets t's TLS needs, else a new one. An error means no session
// could be had, so the caller may try another host.
func (c *client) send(ctx context.Context, t target, req *mailmsg.Attempt) ([]mailmsg.Result, sent, error) {
	if s := c.pool.get(t.key()); s != nil {
		if s.satisfies(t.mode) {
			c.metrics.reuse(c.route)
			res, st := c.dialer.transact(ctx, s, req)
			if st != connStale {
				c.finish(s, st)
				return res, sent{tls: s.tls, reused: true, verifyErr: s.verifyErr}, nil
			}
		}
		s.c.Close()
	}
	s, err := c.dialer.open(ctx, t)
	if errors.Is(err, errTLSFallback) {
		t.mode = tlsNone
		s, err = c.dialer.open(ctx, t)
	}
	if err == nil && c.ready != nil {
		if err = c.ready(s); err != nil {
			s.close()
		}
	}
	if err != nil {
		return nil, sent{}, err
	}
	c.metrics.connection(c.route, s.tls)
	res, st := c.dialer.transact(ctx, s, req)
	c.finish(s, st)
	return res, sent{tls: s.tls, verifyErr: s.verifyErr}, nil
}

func (c *client) finish(s *session, st connState) {
	if st == connOK {
		c.pool.put(s)
		return
	}
	s.c.Close()
}

// logResults writes one line per recipient attempt and counts it.
func logResults(log *slog.Logger, m *Metrics, route, mta, tls string, req *mailmsg.Attempt, res []mailmsg.Result) {
	for _, r := range res {
		m.attempt(route, r.Err)
		attrs := []any{"msgid", req.ID, "rcpt", r.Rcpt, "route", route, "result", resultOf(r.Err)}
		var e *mailmsg.Error
		switch {
		case r.Err == nil:
			attrs = append(attrs, "mta", mta, "tls", tls)
		case errors.As(r.Err, &e):
			attrs = append(attrs, "mta", e.RemoteMTA, "command", e.Command, "code", e.Code, "status", e.Enhanced, "reply", e.Diagnostic())
		default:
			attrs = append(attrs, "error", mailmsg.Clean(r.Err.Error()))
		}
		log.Info("delivery attempt", attrs...)
	}
}

// orDiscard gives a logger that drops everything when none is set.
func orDiscard(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}
