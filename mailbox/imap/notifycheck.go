package imap

import (
	"maps"
	"slices"
	"strings"
	"sync"

	"mailgate/mailbox"
)

// What a live NOTIFY tells, and when (notify.go has the command).

// startNotify watches the account and tells the changes between
// commands; commands and this goroutine take turns on c.work.
func (c *conn) startNotify(n *notifier) {
	done := make(chan struct{})
	watch, stopWatch, err := c.sess.store().Watch(c.sess.account)
	var once sync.Once
	n.stop = func() {
		once.Do(func() {
			close(done)
			if err == nil {
				stopWatch()
			}
		})
	}
	if err != nil {
		return // the account cannot be watched: told after commands only
	}
	go func() {
		for {
			select {
			case <-done:
				return
			case <-watch:
			}
			c.work.Lock()
			if c.notify == n {
				c.notifyNow(n)
			}
			c.work.Unlock()
		}
	}()
}

// notifyNow tells what changed, outside any command: the selected
// mailbox's changes when NOTIFY asked for them (EXPUNGE at once unless
// selected-delayed), the other mailboxes' always.
func (c *conn) notifyNow(n *notifier) {
	if c.state == stateSelected && n.spec.selected != 0 {
		c.sess.Poll(&updateWriter{c: c, allowExpunge: !n.spec.delayed}, !n.spec.delayed)
		return
	}
	c.notifyOthers()
}

// watchedFolders maps each existing folder a group names to the
// events wanted for it.
func (c *conn) watchedFolders(spec *notifySpec) map[string]eventSet {
	folders, err := c.sess.store().Folders(c.sess.account)
	if err != nil {
		return nil
	}
	out := map[string]eventSet{}
	for _, f := range folders {
		for _, g := range spec.groups {
			if g.matches(f.Name, f.Subscribed) {
				out[f.Name] |= g.events
			}
		}
	}
	return out
}

// matches reports whether the group names folder.
func (g *notifyGroup) matches(folder string, subscribed bool) bool {
	switch g.kind {
	case "PERSONAL":
		return true
	case "INBOXES":
		return folder == mailbox.Inbox
	case "SUBSCRIBED":
		return subscribed
	case "SUBTREE":
		for _, n := range g.names {
			if folder == n || strings.HasPrefix(folder, n+mailbox.Delimiter) {
				return true
			}
		}
	case "MAILBOXES":
		for _, n := range g.names {
			if folder == n {
				return true
			}
		}
	}
	return false
}

// folderEvents is what the groups want for folder (existing or not).
func (n *notifier) folderEvents(folder string, subscribed bool) eventSet {
	var ev eventSet
	for _, g := range n.spec.groups {
		if g.matches(folder, subscribed) {
			ev |= g.events
		}
	}
	return ev
}

// notifyBaseline records the state told from now on; with STATUS it
// tells each watched mailbox's status (not the selected one's).
func (c *conn) notifyBaseline(n *notifier, tell bool) {
	n.last = map[string]mailbox.FolderStatus{}
	n.folders, n.subs = c.folderSets()
	watched := c.watchedFolders(n.spec)
	for _, name := range slices.Sorted(maps.Keys(watched)) {
		ev := watched[name]
		st, err := c.sess.store().Status(c.sess.account, name)
		if err != nil || ev&(evMessageNew|evMessageExpunge|evFlagChange) == 0 {
			continue
		}
		n.last[name] = st
		if tell && !c.isSelected(name) {
			c.write(c.statusLine(name, st, ev))
		}
	}
}

// folderSets returns the folders that exist and those subscribed.
func (c *conn) folderSets() (map[string]bool, map[string]bool) {
	all, subs := map[string]bool{}, map[string]bool{}
	folders, _ := c.sess.store().Folders(c.sess.account)
	for _, f := range folders {
		all[f.Name] = true
	}
	names, _ := c.sess.store().Subscriptions(c.sess.account)
	for _, s := range names {
		subs[s] = true
	}
	return all, subs
}

func (c *conn) isSelected(name string) bool {
	return c.state == stateSelected && c.sess.sel != nil && c.sess.sel.name == name
}

// notifyOthers tells what changed outside the selected mailbox: STATUS
// of watched folders, LIST for folders and subscriptions. Past
// maxNotifyLines at once, NOTIFY ends with NOTIFICATIONOVERFLOW.
func (c *conn) notifyOthers() error {
	n := c.notify
	if n == nil {
		return nil
	}
	lines := c.folderChanges(n)
	watched := c.watchedFolders(n.spec)
	for _, name := range slices.Sorted(maps.Keys(watched)) {
		ev := watched[name]
		if ev&(evMessageNew|evMessageExpunge|evFlagChange) == 0 {
			continue
		}
		st, err := c.sess.store().Status(c.sess.account, name)
		if err != nil {
			continue
		}
		old, known := n.last[name]
		n.last[name] = st
		if known && !c.isSelected(name) && statusChanged(old, st, ev) {
			lines = append(lines, c.statusLine(name, st, ev))
		}
	}
	for name := range n.last {
		if _, ok := watched[name]; !ok {
			delete(n.last, name)
		}
	}
	if len(lines) > maxNotifyLines {
		c.stopNotify()
		return c.write("* OK [NOTIFICATIONOVERFLOW] Too many changes at once; NOTIFY is off, send NOTIFY SET again")
	}
	return c.lines(lines)
}

// folderChanges is the LIST lines of MailboxName (created, deleted) and
// SubscriptionChange, for the folders the groups name.
func (c *conn) folderChanges(n *notifier) []string {
	all, subs := c.folderSets()
	var lines []string
	list := func(attrs, name string) {
		r := c.newResp()
		r.raw("* LIST (" + attrs + `) "/" `).mailbox(name)
		lines = append(lines, string(r.b))
	}
	for _, name := range slices.Sorted(maps.Keys(all)) {
		if !n.folders[name] && n.folderEvents(name, subs[name])&evMailboxName != 0 {
			list("", name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(n.folders)) {
		if !all[name] && n.folderEvents(name, subs[name])&evMailboxName != 0 {
			list(`\NonExistent`, name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(subs)) {
		if !n.subs[name] && n.folderEvents(name, true)&evSubscriptionChange != 0 {
			list(`\Subscribed`, name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(n.subs)) {
		if !subs[name] && n.folderEvents(name, false)&evSubscriptionChange != 0 {
			list("", name)
		}
	}
	n.folders, n.subs = all, subs
	return lines
}

// statusChanged: messages came or went (MessageNew, MessageExpunge), or
// flags changed (FlagChange), as the events ask.
func statusChanged(old, st mailbox.FolderStatus, ev eventSet) bool {
	counts := old.Messages != st.Messages || old.UIDNext != st.UIDNext || old.UIDValidity != st.UIDValidity
	flags := old.Unseen != st.Unseen || old.HighestModSeq != st.HighestModSeq
	return ev&(evMessageNew|evMessageExpunge) != 0 && counts || ev&evFlagChange != 0 && flags
}

// statusLine is the untagged STATUS of a watched mailbox: MESSAGES
// UIDNEXT UIDVALIDITY UNSEEN, and HIGHESTMODSEQ with FlagChange.
func (c *conn) statusLine(name string, st mailbox.FolderStatus, ev eventSet) string {
	r := c.newResp()
	r.raw("* STATUS ").mailbox(name).raw(" (MESSAGES ").num(st.Messages).raw(" UIDNEXT ").num(st.UIDNext).
		raw(" UIDVALIDITY ").num(st.UIDValidity).raw(" UNSEEN ").num(st.Unseen)
	if ev&evFlagChange != 0 {
		r.raw(" HIGHESTMODSEQ ").raw(utoa64(st.HighestModSeq))
	}
	return string(r.raw(")").b)
}
