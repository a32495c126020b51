package console

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// queueFilter is the queue page's form: state, recipient domain, and a
// minimum age.
type queueFilter struct {
	State, Domain, Age string
}

// ages are the choices of the age filter.
var ages = []struct {
	Value, Label string
	D            time.Duration
}{
	{"", "any age", 0}, {"10m", "older than 10 minutes", 10 * time.Minute}, {"1h", "older than 1 hour", time.Hour},
	{"1d", "older than 1 day", 24 * time.Hour}, {"3d", "older than 3 days", 72 * time.Hour},
}

var states = []string{"", "pending", "deferred", "held", "delivered", "bounced"}

type queueData struct {
	Filter   queueFilter
	Ages     any
	States   []string
	Messages []Message
	Total    int
}

func (c *Console) queueList(w http.ResponseWriter, r *http.Request, s *session) {
	f := queueFilter{State: r.FormValue("state"), Domain: strings.ToLower(strings.TrimSpace(r.FormValue("domain"))), Age: r.FormValue("age")}
	all := c.opts.Queue.List()
	d := queueData{Filter: f, Ages: ages, States: states, Total: len(all)}
	now := c.now()
	for _, m := range all {
		if f.matches(m, now) {
			d.Messages = append(d.Messages, m)
		}
	}
	c.render(w, r, s, http.StatusOK, "queue", d)
}

// matches keeps a message with at least one recipient in the state and
// domain asked for, received before the age asked for.
func (f queueFilter) matches(m Message, now time.Time) bool {
	for _, a := range ages {
		if a.Value == f.Age && a.D > 0 && now.Sub(m.Received) < a.D {
			return false
		}
	}
	return slices.ContainsFunc(m.Recipients, func(r Recipient) bool {
		return (f.State == "" || r.State == f.State) && (f.Domain == "" || strings.HasSuffix(strings.ToLower(r.Addr), "@"+f.Domain))
	})
}

func (c *Console) queueShow(w http.ResponseWriter, r *http.Request, s *session) {
	m, err := c.opts.Queue.Show(r.PathValue("id"))
	if err != nil {
		c.fail(w, r, s, http.StatusNotFound, "No such message in the queue (it may have been delivered, bounced or deleted).")
		return
	}
	c.render(w, r, s, http.StatusOK, "message", m)
}

// queueAction is hold, release, flush, delete or bounce on one message.
func (c *Console) queueAction(w http.ResponseWriter, r *http.Request, s *session) {
	id, action := r.PathValue("id"), r.PathValue("action")
	q := c.opts.Queue
	var err error
	switch action {
	case "hold":
		err = q.Hold(id)
	case "release":
		err = q.Release(id)
	case "flush":
		_, err = q.Flush(id, "")
	case "delete":
		err = q.Delete(id)
	case "bounce":
		err = q.Bounce(id)
	default:
		c.fail(w, r, s, http.StatusNotFound, "Unknown queue action; use hold, release, flush, delete or bounce.")
		return
	}
	if errors.Is(err, ErrNotFound) {
		c.fail(w, r, s, http.StatusNotFound, "Message "+id+" is no longer in the queue (delivered, bounced or deleted).")
		return
	}
	if err != nil {
		c.log.Warn("console queue action failed", "action", action, "msgid", id, "err", err)
		c.fail(w, r, s, http.StatusConflict, "Message "+id+": could not "+action+" it now (it may be in delivery); try again in a moment.")
		return
	}
	c.log.Info("console queue action", "account", s.account, "action", action, "msgid", id)
	to := "/admin/messages/" + url.PathEscape(id)
	if action == "delete" || action == "bounce" {
		to = "/admin/messages"
	}
	c.done(w, r, s, to, "Message "+id+": "+pastTense[action]+".")
}

var pastTense = map[string]string{"hold": "held", "release": "released", "flush": "scheduled for delivery now", "delete": "deleted", "bounce": "bounced to its sender"}

// queueFlushAll retries every deferred recipient now.
func (c *Console) queueFlushAll(w http.ResponseWriter, r *http.Request, s *session) {
	domain := strings.ToLower(strings.TrimSpace(r.PostFormValue("domain")))
	n, err := c.opts.Queue.Flush("", domain)
	if err != nil {
		c.internal(w, r, s, "flush the queue", err)
		return
	}
	c.done(w, r, s, "/admin/messages", plural(n, "recipient")+" scheduled for delivery now.")
}
