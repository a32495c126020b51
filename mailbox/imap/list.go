package imap

import (
	"slices"
	"strings"

	goimap "github.com/emersion/go-imap/v2"

	"mailgate/mailbox"
)

// LIST and LSUB. A plain LIST shows the folders that exist. With the
// SUBSCRIBED selection (RFC 5258) and for LSUB, the subscribed names are
// listed instead, those of deleted folders as \NonExistent. A parent
// whose subscribed descendants the pattern does not reach is shown too:
// for LSUB with "%" as \Noselect (RFC 3501 §6.3.9), with RECURSIVEMATCH
// with CHILDINFO ("SUBSCRIBED") (RFC 5258 §3.5).

func (s *session) List(w *listWriter, ref string, patterns []string, options *goimap.ListOptions) error {
	s.srv.metrics.commands.WithLabelValues("LIST").Inc()
	lsub := s.lsub
	s.lsub = false
	if len(patterns) == 0 {
		return w.WriteList(&goimap.ListData{Attrs: []goimap.MailboxAttr{goimap.MailboxAttrNoSelect}, Delim: '/'})
	}
	folders, err := s.store().Folders(s.account)
	if err != nil {
		return s.imapError(err)
	}
	var list []*goimap.ListData
	if options.SelectSubscribed {
		subs, err := s.store().Subscriptions(s.account)
		if err != nil {
			return s.imapError(err)
		}
		list = subscribedList(folders, subs, ref, patterns, lsub, options.SelectRecursiveMatch)
	} else {
		for _, f := range folders {
			if matchAny(f.Name, ref, patterns) && (!options.SelectSpecialUse || f.SpecialUse != "") {
				list = append(list, folderData(f, folders))
			}
		}
	}
	for _, data := range list {
		if options.ReturnStatus != nil && !slices.Contains(data.Attrs, goimap.MailboxAttrNonExistent) {
			if st, err := s.store().Status(s.account, data.Mailbox); err == nil {
				data.Status = statusData(data.Mailbox, st, options.ReturnStatus, s.AppendLimit())
				if options.ReturnStatus.DeletedStorage {
					data.Status.DeletedStorage, _ = s.deletedStorage(data.Mailbox)
				}
			}
		}
		if err := w.WriteList(data); err != nil {
			return err
		}
	}
	return nil
}

// folderData is the LIST entry of an existing folder.
func folderData(f mailbox.FolderInfo, all []mailbox.FolderInfo) *goimap.ListData {
	data := &goimap.ListData{Mailbox: f.Name, Delim: '/', Attrs: childAttr(f.Name, all)}
	if f.Subscribed {
		data.Attrs = append(data.Attrs, goimap.MailboxAttrSubscribed)
	}
	if f.SpecialUse != "" {
		data.Attrs = append(data.Attrs, goimap.MailboxAttr(f.SpecialUse))
	}
	return data
}

// subscribedList answers LSUB and LIST (SUBSCRIBED [RECURSIVEMATCH]),
// sorted by name.
func subscribedList(folders []mailbox.FolderInfo, subs []string, ref string, patterns []string, lsub, recursive bool) []*goimap.ListData {
	byName := map[string]mailbox.FolderInfo{}
	for _, f := range folders {
		byName[f.Name] = f
	}
	out := map[string]*goimap.ListData{}
	for _, n := range subs {
		if !matchAny(n, ref, patterns) {
			continue
		}
		if f, ok := byName[n]; ok {
			out[n] = folderData(f, folders)
		} else {
			out[n] = &goimap.ListData{Mailbox: n, Delim: '/',
				Attrs: []goimap.MailboxAttr{goimap.MailboxAttrSubscribed, goimap.MailboxAttrNonExistent}}
		}
	}
	percent := slices.ContainsFunc(patterns, func(p string) bool { return strings.Contains(p, "%") })
	if recursive || (lsub && percent) {
		for _, n := range subs {
			if matchAny(n, ref, patterns) {
				continue
			}
			for p := parentOf(n); p != ""; p = parentOf(p) {
				if matchAny(p, ref, patterns) {
					addParent(out, p, byName, folders, recursive)
				}
			}
		}
	}
	names := make([]string, 0, len(out))
	for n := range out {
		names = append(names, n)
	}
	slices.Sort(names)
	list := make([]*goimap.ListData, len(names))
	for i, n := range names {
		list[i] = out[n]
	}
	return list
}

// addParent lists p for a subscribed descendant the pattern missed:
// with CHILDINFO under RECURSIVEMATCH, as \Noselect in LSUB when not
// subscribed itself.
func addParent(out map[string]*goimap.ListData, p string, byName map[string]mailbox.FolderInfo, folders []mailbox.FolderInfo, recursive bool) {
	data := out[p]
	if data == nil {
		if f, ok := byName[p]; ok && recursive {
			data = folderData(f, folders)
			data.Attrs = slices.DeleteFunc(data.Attrs, func(a goimap.MailboxAttr) bool { return a == goimap.MailboxAttrSubscribed })
		} else if recursive {
			data = &goimap.ListData{Mailbox: p, Delim: '/', Attrs: []goimap.MailboxAttr{goimap.MailboxAttrNonExistent}}
		} else {
			data = &goimap.ListData{Mailbox: p, Delim: '/', Attrs: []goimap.MailboxAttr{goimap.MailboxAttrNoSelect}}
		}
		out[p] = data
	}
	if recursive {
		data.ChildInfo = &goimap.ListDataChildInfo{Subscribed: true}
	}
}

// parentOf returns the name one level up, or "".
func parentOf(name string) string {
	if i := strings.LastIndex(name, mailbox.Delimiter); i > 0 {
		return name[:i]
	}
	return ""
}

func matchAny(name, ref string, patterns []string) bool {
	for _, p := range patterns {
		if matchList(name, ref, p) {
			return true
		}
	}
	return false
}

func childAttr(name string, all []mailbox.FolderInfo) []goimap.MailboxAttr {
	for _, f := range all {
		if strings.HasPrefix(f.Name, name+mailbox.Delimiter) {
			return []goimap.MailboxAttr{goimap.MailboxAttrHasChildren}
		}
	}
	return []goimap.MailboxAttr{goimap.MailboxAttrHasNoChildren}
}
