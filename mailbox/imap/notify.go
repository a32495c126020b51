package imap

import (
	"fmt"
	"slices"
	"strings"

	"mailgate/mailbox"
)

// NOTIFY (RFC 5465): the client names the mailboxes and events it wants
// to hear about, and is told without asking: in the selected mailbox
// (EXISTS, EXPUNGE, FETCH FLAGS, as after any command), in the others
// (`* STATUS`), and about folders created, deleted or renamed and
// subscriptions (`* LIST`). The store wakes watchers after any change in
// the account (Store.Watch, as for IDLE); the notifier then compares
// each watched folder's status with the last one told. Between commands
// a goroutine does it (conn.work keeps it apart from commands); after
// each command and during IDLE, Poll does.

// Events of NOTIFY that are served.
type eventSet uint8

const (
	evMessageNew eventSet = 1 << iota
	evMessageExpunge
	evFlagChange
	evMailboxName
	evSubscriptionChange
)

var eventNames = []struct {
	name string
	ev   eventSet
}{{"MessageNew", evMessageNew}, {"MessageExpunge", evMessageExpunge}, {"FlagChange", evFlagChange},
	{"MailboxName", evMailboxName}, {"SubscriptionChange", evSubscriptionChange}}

// unservedEvents are RFC 5465's events mailgate has nothing for.
var unservedEvents = []string{"AnnotationChange", "MailboxMetadataChange", "ServerMetadataChange"}

const (
	// maxNotifyMailboxes bounds the folders one NOTIFY watches; more get
	// NO [NOTIFICATIONOVERFLOW] (each change of the account looks at all).
	maxNotifyMailboxes = 1000
	// maxNotifyLines bounds what one change may tell; past it the client
	// gets * OK [NOTIFICATIONOVERFLOW] and NOTIFY is off.
	maxNotifyLines = 1000
)

// notifyGroup is one event group: which mailboxes, which events.
type notifyGroup struct {
	kind   string   // INBOXES, PERSONAL, SUBSCRIBED, SUBTREE, MAILBOXES
	names  []string // SUBTREE and MAILBOXES, canonical
	events eventSet
}

// notifySpec is a parsed NOTIFY SET.
type notifySpec struct {
	status   bool     // STATUS: tell each watched mailbox's status now
	selected eventSet // events of the selected mailbox
	delayed  bool     // selected-delayed: EXPUNGE only when allowed
	groups   []notifyGroup
}

// notifier is a connection's live NOTIFY.
type notifier struct {
	spec    *notifySpec
	last    map[string]mailbox.FolderStatus // what was told, per watched folder
	folders map[string]bool                 // folders that exist (MailboxName)
	subs    map[string]bool                 // subscribed folders (SubscriptionChange)
	stop    func()
}

// cmdNotify answers NOTIFY NONE and NOTIFY SET.
func (c *conn) cmdNotify(cmd *command) error {
	c.srv.metrics.commands.WithLabelValues("NOTIFY").Inc()
	toks, err := cmd.tokens(1)
	if err != nil {
		return c.bad(cmd, err)
	}
	p := &keyParser{toks: toks}
	t, err := p.next()
	switch word := strings.ToUpper(t.text); {
	case err != nil || t.paren != 0 || t.str:
		return c.write(cmd.tag + " BAD NOTIFY takes NONE or SET and event groups, such as NOTIFY SET (selected (MessageNew MessageExpunge))")
	case word == "NONE" && p.pos == len(toks):
		c.stopNotify()
		return c.finish(cmd, nil, "NOTIFY completed")
	case word != "SET":
		return c.write(cmd.tag + " BAD NOTIFY takes NONE or SET")
	}
	spec, bad, err := c.parseNotifySet(p)
	if err != nil {
		return c.write(cmd.tag + " BAD NOTIFY: " + err.Error())
	}
	if bad != "" {
		return c.write(cmd.tag + " " + bad)
	}
	n := &notifier{spec: spec}
	if len(c.watchedFolders(spec)) > maxNotifyMailboxes {
		return c.write(cmd.tag + " NO [NOTIFICATIONOVERFLOW] NOTIFY would watch more than " +
			utoa(maxNotifyMailboxes) + " mailboxes; name fewer")
	}
	c.stopNotify()
	c.notify = n
	c.notifyBaseline(n, spec.status)
	c.startNotify(n)
	return c.finish(cmd, nil, "NOTIFY completed")
}

// parseNotifySet reads [STATUS] and the event groups. bad is a whole
// NO reply for events that are not served.
func (c *conn) parseNotifySet(p *keyParser) (*notifySpec, string, error) {
	spec := &notifySpec{}
	if p.pos < len(p.toks) && p.toks[p.pos].paren == 0 && strings.EqualFold(p.toks[p.pos].text, "STATUS") {
		spec.status = true
		p.pos++
	}
	if p.pos == len(p.toks) {
		return nil, "", fmt.Errorf("SET needs at least one event group, such as (personal (MessageNew MessageExpunge))")
	}
	for p.pos < len(p.toks) {
		if t, _ := p.next(); t.paren != '(' {
			return nil, "", fmt.Errorf("an event group is in parentheses: (filter events)")
		}
		bad, err := c.parseGroup(p, spec)
		if err != nil || bad != "" {
			return nil, bad, err
		}
		if t, err := p.next(); err != nil || t.paren != ')' {
			return nil, "", fmt.Errorf("missing ')' after an event group")
		}
	}
	return spec, "", nil
}

// parseGroup reads one group's filter and events.
func (c *conn) parseGroup(p *keyParser, spec *notifySpec) (string, error) {
	t, err := p.next()
	if err != nil || t.paren != 0 || t.str {
		return "", fmt.Errorf("a mailbox filter is expected: selected, selected-delayed, inboxes, personal, subscribed, subtree or mailboxes")
	}
	g := notifyGroup{kind: strings.ToUpper(t.text)}
	switch g.kind {
	case "SELECTED", "SELECTED-DELAYED", "INBOXES", "PERSONAL", "SUBSCRIBED":
	case "SUBTREE", "MAILBOXES":
		if g.names, err = c.notifyNames(p); err != nil {
			return "", err
		}
	default:
		return "", fmt.Errorf("unknown mailbox filter %q; use selected, selected-delayed, inboxes, personal, subscribed, subtree or mailboxes", t.text)
	}
	events, bad, err := parseEvents(p)
	if err != nil || bad != "" {
		return bad, err
	}
	if g.kind == "SELECTED" || g.kind == "SELECTED-DELAYED" {
		spec.selected |= events
		spec.delayed = g.kind == "SELECTED-DELAYED"
		return "", nil
	}
	g.events = events
	spec.groups = append(spec.groups, g)
	return "", nil
}

// notifyNames reads one mailbox or a parenthesised list of them.
func (c *conn) notifyNames(p *keyParser) ([]string, error) {
	t, err := p.next()
	if err != nil || t.paren == ')' {
		return nil, fmt.Errorf("subtree and mailboxes need a mailbox name or a list of them")
	}
	list := []token{t}
	if t.paren == '(' {
		list = nil
		for {
			if t, err = p.next(); err != nil {
				return nil, fmt.Errorf("missing ')' after the mailbox names")
			}
			if t.paren == ')' {
				break
			}
			list = append(list, t)
		}
	}
	var out []string
	for _, t := range list {
		if t.paren != 0 {
			return nil, fmt.Errorf("a mailbox name is expected")
		}
		name, err := c.decodeName(t.text)
		if err == nil {
			name, err = mailbox.CanonicalFolder(name)
		}
		if err != nil {
			return nil, fmt.Errorf("mailbox name %q: %v", t.text, err)
		}
		out = append(out, name)
	}
	return out, nil
}

// parseEvents reads NONE or a list of events. Unserved events give
// NO [BADEVENT (served events)] (RFC 5465 §5).
func parseEvents(p *keyParser) (eventSet, string, error) {
	t, err := p.next()
	if err == nil && t.paren == 0 && !t.str && strings.EqualFold(t.text, "NONE") {
		return 0, "", nil
	}
	if err != nil || t.paren != '(' {
		return 0, "", fmt.Errorf("events are NONE or a list such as (MessageNew MessageExpunge)")
	}
	var set eventSet
	for {
		t, err := p.next()
		if err != nil {
			return 0, "", fmt.Errorf("missing ')' after the events")
		}
		if t.paren == ')' {
			return set, "", nil
		}
		ev := eventByName(t.text)
		switch {
		case ev != 0 && !t.str && t.paren == 0:
			set |= ev
		case slices.ContainsFunc(unservedEvents, func(n string) bool { return strings.EqualFold(n, t.text) }):
			return 0, "NO [BADEVENT (MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange)] " +
				t.text + " is not served", nil
		default:
			return 0, "", fmt.Errorf("unknown event %q; use MessageNew, MessageExpunge, FlagChange, MailboxName or SubscriptionChange", t.text)
		}
		if ev == evMessageNew && p.pos < len(p.toks) && p.toks[p.pos].paren == '(' {
			return 0, "", fmt.Errorf("MessageNew with FETCH attributes is not served; FETCH the new messages after EXISTS")
		}
	}
}

func eventByName(name string) eventSet {
	for _, e := range eventNames {
		if strings.EqualFold(e.name, name) {
			return e.ev
		}
	}
	return 0
}

// stopNotify turns NOTIFY off (NOTIFY NONE, a new NOTIFY SET, the end
// of the connection).
func (c *conn) stopNotify() {
	if c.notify != nil {
		c.notify.stop()
		c.notify = nil
	}
}
