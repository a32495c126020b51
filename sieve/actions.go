package sieve

import (
	"net/mail"
	"strings"
	"time"
)

// Vacation periods (RFC 5230 section 4.1): 7 days unless :days says
// otherwise, at least 1 day (or 1 second with vacation-seconds), at most
// 90 days.
const (
	defaultVacationPeriod = 7 * 24 * time.Hour
	maxVacationPeriod     = 90 * 24 * time.Hour
)

func (r *runner) action(c *Node) error {
	a := Action{Kind: Kind(c.Name), Copy: c.has("copy")}
	switch c.Name {
	case "keep":
		a.Flags = r.flagsOf(c)
	case "discard":
	case "fileinto":
		a.Mailbox, a.Create, a.Flags = r.str(c.args[0]), c.has("create"), r.flagsOf(c)
	case "redirect":
		addr, err := r.redirectAddress(c)
		if err != nil {
			return err
		}
		a.Address = addr
	case "reject", "ereject":
		a.Reason = r.str(c.args[0])
	case "vacation":
		v, err := r.vacation(c)
		if err != nil {
			return err
		}
		a.Vacation = v
	}
	if err := r.compatible(c, a); err != nil {
		return err
	}
	if len(r.actions) >= r.lim.MaxActions {
		return r.fail(c.Pos, "the script asked for more than its limit of actions")
	}
	r.actions = append(r.actions, a)
	if a.Kind != ActKeep && a.Kind != ActVacation && !a.Copy {
		r.cancelKeep = true
	}
	return nil
}

func (r *runner) flagsOf(c *Node) []string {
	if f, ok := c.tags["flags"]; ok {
		return normFlags(r.strs(f))
	}
	return r.flags
}

func (r *runner) redirectAddress(c *Node) (string, error) {
	s := strings.TrimSpace(r.str(c.args[0]))
	a, err := mail.ParseAddress(s)
	if err != nil || !strings.Contains(a.Address, "@") {
		return "", r.fail(c.args[0].pos, "redirect to "+quoteShort(s)+", which is not a mail address")
	}
	if r.redirects++; r.redirects > r.lim.MaxRedirects {
		return "", r.fail(c.Pos, "the script redirects the message more often than the limit allows")
	}
	return a.Address, nil
}

// compatible refuses reject together with what would also deliver or
// answer the message (RFC 5429 section 2.1), and a second vacation.
func (r *runner) compatible(c *Node, a Action) error {
	for _, prev := range r.actions {
		rejecting := prev.Kind == ActReject || prev.Kind == ActEReject
		newReject := a.Kind == ActReject || a.Kind == ActEReject
		switch {
		case rejecting && (a.Kind == ActKeep || a.Kind == ActFileinto || a.Kind == ActVacation || newReject),
			newReject && (prev.Kind == ActKeep || prev.Kind == ActFileinto || prev.Kind == ActVacation):
			return r.fail(c.Pos, c.Name+" cannot be used together with "+string(prev.Kind))
		case a.Kind == ActVacation && prev.Kind == ActVacation:
			return r.fail(c.Pos, "vacation may run only once per message")
		}
	}
	return nil
}

func (r *runner) vacation(c *Node) (*Vacation, error) {
	v := &Vacation{Reason: r.str(c.args[0]), MIME: c.has("mime"), Period: defaultVacationPeriod}
	if a, ok := c.tags["subject"]; ok {
		v.Subject = r.str(a)
	}
	if a, ok := c.tags["from"]; ok {
		v.From = r.str(a)
	}
	if a, ok := c.tags["addresses"]; ok {
		v.Addresses = r.strs(a)
	}
	if a, ok := c.tags["days"]; ok {
		v.Period = max(time.Duration(a.num)*24*time.Hour, 24*time.Hour)
	}
	if a, ok := c.tags["seconds"]; ok {
		v.Period = max(time.Duration(a.num)*time.Second, time.Second)
	}
	v.Period = min(v.Period, maxVacationPeriod)
	if a, ok := c.tags["handle"]; ok {
		v.Handle = r.str(a)
	} else {
		// Without :handle, the reply's text identifies it (RFC 5230
		// section 4.2), so a changed message answers again.
		v.Handle = v.Subject + "\x00" + v.Reason + "\x00" + v.From
	}
	return v, nil
}

// dedupe drops repeated actions: fileinto of one folder, redirect to
// one address, and keep with fileinto "INBOX" (RFC 5228 section 2.10.3).
func dedupe(acts []Action) []Action {
	var out []Action
	seen := map[string]int{}
	for _, a := range acts {
		key := ""
		switch a.Kind {
		case ActKeep:
			key = "box:inbox"
		case ActFileinto:
			key = "box:" + strings.ToLower(a.Mailbox)
			if strings.EqualFold(a.Mailbox, "INBOX") {
				key = "box:inbox"
			}
		case ActRedirect:
			key = "to:" + strings.ToLower(a.Address)
		case ActDiscard:
			key = "discard"
		}
		if i, ok := seen[key]; ok && key != "" {
			out[i].Flags = mergeFlags(out[i].Flags, a.Flags)
			out[i].Create = out[i].Create || a.Create
			continue
		}
		if key != "" {
			seen[key] = len(out)
		}
		out = append(out, a)
	}
	return out
}

func quoteShort(s string) string {
	if len(s) > 80 {
		s = s[:80] + "..."
	}
	return `"` + s + `"`
}
