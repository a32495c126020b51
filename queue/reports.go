package queue

import (
	"bytes"
	"fmt"
	"slices"
	"time"

	"mailgate/internal/mailmsg"
)

// wants reports whether a recipient's NOTIFY asks for a report of kind
// (SUCCESS, FAILURE, DELAY). Without NOTIFY, RFC 3461 §5.1 lets us choose:
// failures and delays are reported, successes are not.
func wants(notify []string, kind string) bool {
	if len(notify) == 0 {
		return kind != "SUCCESS"
	}
	return slices.Contains(notify, kind)
}

// reportable: never report on a bounce, never send to <>.
func (m *message) reportable() bool { return m.env.From != "" && !m.env.Bounce }

// sendReports sends at most one failure report and one success report
// covering every recipient that became final since the last ones: a
// permanent failure is reported at once, even while other recipients of
// the message are still being retried, and never twice.
func (q *Queue) sendReports(m *message, now time.Time) {
	if !m.reportable() {
		return
	}
	var failed, delivered []int
	for i := range m.st.Recipients {
		r := &m.st.Recipients[i]
		if !r.final() || r.Reported {
			continue
		}
		r.Reported = true
		notify := m.env.Recipients[i].Notify
		switch {
		case r.State == StateBounced && wants(notify, "FAILURE"):
			failed = append(failed, i)
		case r.State == StateDelivered && wants(notify, "SUCCESS") && !r.DSNPassed:
			// A next hop that offered DSN was given NOTIFY=SUCCESS and
			// reports itself; a second report from us would be a duplicate.
			delivered = append(delivered, i)
		}
	}
	if len(failed) > 0 {
		q.report(m, "failed", failed, now)
	}
	if len(delivered) > 0 {
		q.report(m, "delivered", delivered, now)
	}
}

// maybeWarnDelay tells the sender once that a message is late.
func (q *Queue) maybeWarnDelay(m *message, now time.Time) {
	if q.opts.DelayWarning <= 0 || m.st.DelayWarned || !m.reportable() || now.Sub(m.env.Received) < q.opts.DelayWarning {
		return
	}
	var late []int
	for i, r := range m.st.Recipients {
		if r.State == StateDeferred && wants(m.env.Recipients[i].Notify, "DELAY") {
			late = append(late, i)
		}
	}
	m.st.DelayWarned = true
	for i, r := range m.st.Recipients {
		if r.State == StateDeferred {
			q.tell(m, i, StateDelayWarning, "")
		}
	}
	if len(late) > 0 {
		q.report(m, "delayed", late, now)
	}
}

// report builds a DSN and queues it from <> to the original sender.
func (q *Queue) report(m *message, action string, idx []int, now time.Time) {
	_, raw, err := q.spool.ReadMessage(m.env.ID)
	if err != nil {
		q.log.Error("cannot read message for its report", "msgid", m.env.ID, "err", err)
		return
	}
	in := DSNInput{
		ReportingMTA: q.opts.Hostname, Sender: m.env.From, EnvID: m.env.EnvID,
		Arrival: m.env.Received, Ret: m.env.Ret, Original: raw, Now: now,
	}
	for _, i := range idx {
		r, rc := m.st.Recipients[i], m.env.Recipients[i]
		dr := DSNRecipient{
			FinalRecipient: rc.Addr, OriginalRecipient: rc.ORCPT, Action: action, Status: r.Status,
			RemoteMTA: r.RemoteMTA, Diagnostic: r.LastError, LastAttempt: lastAttempt(r),
		}
		switch {
		case action == DSNDelayed:
			dr.WillRetryUntil = m.env.Received.Add(q.opts.MaxAge)
		case action == DSNDelivered && r.Relayed:
			dr.Action = DSNRelayed // RFC 3461 section 6.2.1: no further report will come
		}
		in.Recipients = append(in.Recipients, dr)
	}
	body, err := BuildDSN(in)
	if err != nil {
		q.log.Error("cannot build report", "msgid", m.env.ID, "err", err)
		return
	}
	env := &mailmsg.Envelope{
		ID: mailmsg.NewID(now), From: "", Recipients: []mailmsg.Recipient{{Addr: m.env.From}},
		Received: now, Bounce: true, UTF8: m.env.UTF8,
	}
	// A trace field with the report's own queue ID, as for accepted mail,
	// so the report can be followed like any other message.
	trace := fmt.Sprintf("Received: by %s (mailgate) id %s\r\n\tfor <%s>; %s\r\n", q.opts.Hostname, env.ID, mailmsg.Clean(m.env.From), now.Format(time.RFC1123Z))
	body = append([]byte(trace), body...)
	if err := q.enqueueLocked(env, body); err != nil {
		q.log.Error("cannot queue report", "msgid", m.env.ID, "err", err)
		return
	}
	q.metrics.reports.WithLabelValues(action).Inc()
	q.log.Info("report queued", "msgid", m.env.ID, "action", action, "report_id", env.ID, "rcpts", len(idx))
}

func lastAttempt(r RcptState) time.Time {
	if n := len(r.History); n > 0 {
		return r.History[n-1].Time
	}
	return time.Time{}
}

// enqueueLocked is Enqueue for callers holding q.mu.
func (q *Queue) enqueueLocked(env *mailmsg.Envelope, raw []byte) error {
	if err := q.spool.Write(env, raw); err != nil {
		return err
	}
	q.add(env, len(raw))
	return nil
}

// headerOf returns the header section of a message (up to the blank line).
func headerOf(raw []byte) []byte {
	if i := bytes.Index(raw, []byte("\r\n\r\n")); i >= 0 {
		return raw[:i+2]
	}
	return raw
}
