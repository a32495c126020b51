package filters

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-msgauth/authres"
	"github.com/emersion/go-smtp"

	"mailgate/arc"
	"mailgate/config"
	"mailgate/internal/mailmsg"
	"mailgate/resolver"
)

// Filter is one configured filter of a listener's chain. It makes a
// Session per connection; the session implements the stage interfaces
// (MailChecker, RcptChecker, DataChecker, Decorator) it needs. A filter
// may also be an Admitter.
type Filter interface {
	Name() string
	Begin(conn *Conn) Session
}

// Session is a filter's state for one connection.
type Session interface{ Close() }

// Admitter sees each TCP connection once, before the greeting (STARTTLS
// does not make it a new one). login says whether clients may log in on
// the listener. ended is called when the connection closes, with whether
// it logged in.
type Admitter interface {
	Admit(ip net.IP, login bool) (v Verdict, ended func(loggedIn bool))
}

// MailChecker sees MAIL FROM (st.From).
type MailChecker interface {
	CheckMail(ctx context.Context, st *State) Verdict
}

// RcptChecker sees each RCPT TO before it is added to st.Rcpts.
type RcptChecker interface {
	CheckRcpt(ctx context.Context, st *State, to string) Verdict
}

// DataChecker sees the message. It records authentication results in st;
// trace fields and signatures are added by the chain and Decorators after
// the last check. Only repairs (Message-ID, Date) go into msg.Prepend here.
type DataChecker interface {
	CheckData(ctx context.Context, st *State, msg *Message) Verdict
}

// Decorator adds header fields (DKIM signatures) once every check of the
// chain has passed, whatever its place in the list.
type Decorator interface {
	Decorate(ctx context.Context, st *State, msg *Message) error
}

// Resetter drops per-transaction state at RSET or after DATA.
type Resetter interface{ Reset() }

// Verdict is what a filter found; the configured action for Result (the
// filter's row of the Registry gives the results and their defaults)
// decides what happens.
type Verdict struct {
	// Result is one of the filter's results; "" means nothing to report.
	Result string
	// Reply is sent when the action is reject or tempfail; its class is
	// made 5 or 4 to match the action. Nil gives a generic reply.
	Reply *smtp.SMTPError
	// Reason is for the log only, never for the client.
	Reason string
}

// State is one transaction's envelope plus what the filters found so far.
type State struct {
	Conn  *Conn
	From  string
	Rcpts []string

	// SPF and DKIM results, for DMARC and Authentication-Results.
	SPF  *spfOutcome
	DKIM []dkimOutcome
	// ARC is the arc_verify result, for DMARC's trusted sealers.
	ARC *arc.Result

	auth       []authres.Result
	fields     []string // trace fields such as Received-SPF, without CRLF
	tags       []string
	quarantine bool
	discard    bool
}

func newState(conn *Conn) *State { return &State{Conn: conn} }

func (st *State) reset() {
	*st = State{Conn: st.Conn}
}

// Chain is the ordered list of filters configured for one listener.
type Chain struct {
	listener   string
	authservID string
	filters    []Filter
	actions    map[string]map[string]string // filter → result → action
	log        *slog.Logger
	metrics    *Metrics
	suppress   func(account, addr string) bool
}

// New builds the chain for one listener from the config, each filter by
// its row of deps.Registry from the settings that registry checked.
func New(cfg *config.Config, l config.Listener, deps Deps) (*Chain, error) {
	deps = withDefaults(deps, cfg)
	c := &Chain{
		listener:   l.Name,
		authservID: cfg.Hostname,
		log:        deps.Logger.With("listener", l.Name),
		metrics:    deps.Metrics,
		actions:    map[string]map[string]string{},
		suppress:   deps.Suppressed,
	}
	for _, name := range l.Filters {
		k, ok := deps.Registry.kinds[name]
		if !ok {
			return nil, fmt.Errorf("filter %s: unknown filter; write one of %s", name, strings.Join(deps.Registry.FilterNames(), ", "))
		}
		settings := cfg.Filters.Settings(name)
		f, err := k.build(settings, cfg, deps)
		if err != nil {
			return nil, fmt.Errorf("filter %s: %w", name, err)
		}
		c.filters = append(c.filters, f)
		c.actions[name] = k.actions(settings)
	}
	return c, nil
}

func withDefaults(d Deps, cfg *config.Config) Deps {
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Resolver == nil {
		d.Resolver = resolver.New("")
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Percent == nil {
		d.Percent = func() int { return rand.IntN(100) }
	}
	if d.SendAs == nil {
		d.SendAs = func(account, addr string) bool { return strings.EqualFold(account, addr) }
	}
	if d.Metrics == nil {
		d.Metrics = NewMetrics(d.Registerer)
	}
	if d.AccountLimit == nil {
		d.AccountLimit = func(string) (Limit, bool) { return Limit{}, false }
	}
	if d.RateLimits == nil {
		d.RateLimits = NewRateLimits(RateLimitSettings(cfg), d.Now)
	}
	if d.Registry == nil {
		d.Registry = Builtin()
	}
	return d
}

// apply turns a verdict into the configured action: nil to go on, or the
// *smtp.SMTPError to send.
func (c *Chain) apply(st *State, name string, v Verdict) error {
	if v.Result == "" {
		return nil
	}
	act, ok := c.actions[name][v.Result]
	if !ok {
		act = ActionAccept // a result the filter's row does not list
	}
	c.metrics.verdicts.WithLabelValues(name, v.Result, act).Inc()
	switch act {
	case ActionAccept:
	case ActionTag:
		st.tags = append(st.tags, name+"="+v.Result)
	case ActionQuarantine:
		st.quarantine = true
	case ActionDiscard:
		st.discard = true
	case ActionReject, ActionTempfail:
		reply := replyFor(act, v.Reply)
		c.log.Info("rejected", "session", st.Conn.SessionID, "account", st.Conn.Account, "filter", name, "result", v.Result,
			"action", act, "reason", mailmsg.Clean(v.Reason), "reply", fmt.Sprintf("%d %d.%d.%d", reply.Code,
				reply.EnhancedCode[0], reply.EnhancedCode[1], reply.EnhancedCode[2]))
		return reply
	}
	if act != ActionAccept {
		c.log.Info("verdict", "session", st.Conn.SessionID, "account", st.Conn.Account, "filter", name, "result", v.Result, "action", act, "reason", mailmsg.Clean(v.Reason))
	}
	return nil
}

// internal logs an unexpected error and returns the generic reply (STYLE 9):
// the client never sees err's text.
func (c *Chain) internal(st *State, name string, err error) error {
	c.metrics.errors.WithLabelValues(name).Inc()
	c.log.Error("filter error", "session", st.Conn.SessionID, "filter", name, "err", mailmsg.Clean(err.Error()))
	return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0},
		Message: "Temporary local problem, please try again later (session " + mailmsg.Clean(st.Conn.SessionID) + ")"}
}

// replyFor makes the verdict's reply match the action's class: 5xx for
// reject, 4xx for tempfail.
func replyFor(act string, r *smtp.SMTPError) *smtp.SMTPError {
	var out smtp.SMTPError
	if r != nil {
		out = *r
	} else {
		out = smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Message refused by local policy"}
	}
	switch act {
	case ActionReject:
		if out.Code < 500 {
			out.Code = 550
		}
		out.EnhancedCode[0] = 5
	case ActionTempfail:
		if out.Code >= 500 {
			out.Code = 451
		}
		out.EnhancedCode[0] = 4
	}
	out.Message = mailmsg.Clean(out.Message)
	return &out
}

// suppressed refuses a recipient on the account's suppression list with
// the reply a non-existent address gets (RFC 3463 5.1.1), saying why.
func (c *Chain) suppressed(st *State, to string) error {
	if c.suppress == nil || st.Conn.Account == "" || !c.suppress(st.Conn.Account, to) {
		return nil
	}
	c.metrics.verdicts.WithLabelValues("suppression", "suppressed", ActionReject).Inc()
	c.log.Info("rejected", "session", st.Conn.SessionID, "account", st.Conn.Account, "filter", "suppression", "rcpt", mailmsg.Clean(to))
	return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: fmt.Sprintf(
		"<%s> is suppressed for %s: it bounced hard before; lift it with mailgate suppression remove", mailmsg.Clean(to), strings.ToLower(mailmsg.Clean(st.Conn.Account)))}
}
