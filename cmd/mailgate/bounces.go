package main

import (
	"context"
	"io"
	"mailgate/internal/mailmsg"
	"strings"
	"time"

	"mailgate/api"
	"mailgate/bounces"
	"mailgate/queue"
	"mailgate/webhook"
)

// bounceTap is the queue as the relay sees it: once a message with the
// null sender is on stable storage (and goes on to its mailbox as any
// other), a bounce report in it about a message we sent is acted on.
type bounceTap struct {
	a *app
	q *queue.Queue
}

// maxBounceRead bounds a report read back from a large message's file.
const maxBounceRead = 1 << 20

func (b bounceTap) Enqueue(ctx context.Context, env *mailmsg.Envelope, raw []byte) error {
	if err := b.q.Enqueue(ctx, env, raw); err != nil {
		return err
	}
	if env.From == "" {
		b.a.lateBounces(raw)
	}
	return nil
}

func (b bounceTap) EnqueueFrom(ctx context.Context, env *mailmsg.Envelope, head []byte, body queue.Body) error {
	if err := b.q.EnqueueFrom(ctx, env, head, body); err != nil {
		return err
	}
	if env.From == "" && body.Size() <= maxBounceRead {
		rest, err := io.ReadAll(io.NewSectionReader(body, 0, body.Size()))
		if err == nil {
			b.a.lateBounces(append(append([]byte{}, head...), rest...))
		}
	}
	return nil
}

// lateBounces reads a bounce report that came by mail: each recipient it
// says failed for good, of a message this installation sent (its
// Original-Envelope-Id carries our signed queue ID, bounces.Tracker),
// goes on the sending account's suppression list and to its webhooks as
// bounced and suppressed, and the message's record says so. Anything
// else in a report is only logged.
func (a *app) lateBounces(raw []byte) {
	rep, err := bounces.Parse(raw)
	if err != nil {
		return
	}
	id, ok := a.tracker.QueueID(rep.EnvID)
	if !ok {
		a.log.Info("bounce report not matched", "reason", "no envelope id of ours", "envid", rep.EnvID)
		return
	}
	st, ok := apiQueue{a.queue}.Status(id)
	if !ok || st.Account == "" {
		a.log.Info("bounce report not matched", "reason", "message not known here", "msgid", id)
		return
	}
	var evs []webhook.Event
	for _, r := range rep.Recipients {
		i := recipientIndex(st.Recipients, r.Addr)
		switch {
		case !r.Failed():
			continue
		case i < 0:
			a.log.Info("bounce report not matched", "reason", "not a recipient of the message", "msgid", id, "rcpt", r.Addr)
			continue
		}
		evs = append(evs, a.lateBounce(st.Account, id, i, st.Recipients[i].Recipient, r)...)
	}
	if err := a.webhooks.Record(evs); err != nil {
		a.log.Error("webhook events not written", "count", len(evs), "err", err)
	}
}

// lateBounce acts on one failed recipient and returns its events.
func (a *app) lateBounce(account, id string, i int, rcpt string, r bounces.Recipient) []webhook.Event {
	reply := r.Diagnostic
	if reply == "" {
		reply = "bounce report: status " + r.Status
	}
	o := queue.Outcome{ID: id, Account: account, Recipient: rcpt, State: queue.StateBounced, Status: r.Status, Reply: reply, Index: i}
	o.Time = time.Now().UTC()
	suppressed := a.suppressBounce(o)
	if _, _, err := a.queue.LateBounce(id, rcpt, r.Status, reply, suppressed); err != nil {
		a.log.Error("late bounce not recorded", "msgid", id, "rcpt", rcpt, "err", err)
	}
	a.log.Info("late bounce", "msgid", id, "account", account, "rcpt", rcpt, "status", r.Status, "suppressed", suppressed)
	ev := webhook.Event{ID: webhook.EventID(id, i, 0, webhook.Bounced), Type: webhook.Bounced, Time: o.Time, QueueID: id,
		Account: account, Recipient: rcpt, Status: r.Status, Reply: reply}
	evs := []webhook.Event{ev}
	if suppressed {
		ev.Type, ev.ID = webhook.Suppressed, webhook.EventID(id, i, 0, webhook.Suppressed)
		evs = append(evs, ev)
	}
	return evs
}

func recipientIndex(list []api.RcptStatus, addr string) int {
	for i, r := range list {
		if strings.EqualFold(r.Recipient, addr) {
			return i
		}
	}
	return -1
}
