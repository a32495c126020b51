package imap

import (
	"slices"
	"strings"

	goimap "github.com/emersion/go-imap/v2"

	"mailgate/mailbox"
)

// A session's flag vocabulary: IMAP requires every keyword a client sees
// in a FETCH to have been announced first in an untagged FLAGS (RFC 9051
// §7.3.5), and \Recent is per session (mailbox/recent.go). The view
// keeps both: the keywords announced so far, and the UIDs that are
// recent in this session.

// keywordsOf returns the keywords (non-system flags) in flags.
func keywordsOf(flags []string) []string {
	var out []string
	for _, f := range flags {
		if !strings.HasPrefix(f, `\`) {
			out = append(out, f)
		}
	}
	return out
}

// learnKeywords adds the keywords of msgs, and the folder's vocabulary
// (Snapshot.Keywords: also keywords no message carries any more, so
// that sessions that selected the folder at different times announce
// the same ones), to the view's vocabulary and reports whether any was
// new.
func (v *view) learnKeywords(msgs []mailbox.MessageInfo, vocab ...string) bool {
	if v.keywords == nil {
		v.keywords = map[string]string{}
	}
	grew := false
	learn := func(k string) {
		if _, ok := v.keywords[strings.ToLower(k)]; !ok {
			v.keywords[strings.ToLower(k)] = k
			grew = true
		}
	}
	for _, k := range vocab {
		learn(k)
	}
	for _, m := range msgs {
		for _, k := range keywordsOf(m.Flags) {
			learn(k)
		}
	}
	return grew
}

// knows reports whether every keyword of flags has been announced.
func (v *view) knows(flags []string) bool {
	for _, k := range keywordsOf(flags) {
		if _, ok := v.keywords[strings.ToLower(k)]; !ok {
			return false
		}
	}
	return true
}

// knowsAll reports whether every keyword of msgs has been announced.
func (v *view) knowsAll(msgs []mailbox.MessageInfo) bool {
	for _, m := range msgs {
		if !v.knows(m.Flags) {
			return false
		}
	}
	return true
}

// mailboxFlags is the FLAGS list: system flags and the known keywords.
func (v *view) mailboxFlags() []goimap.Flag {
	out := append([]goimap.Flag(nil), systemFlags...)
	var kw []string
	for _, k := range v.keywords {
		kw = append(kw, k)
	}
	slices.Sort(kw)
	for _, k := range kw {
		out = append(out, goimap.Flag(k))
	}
	return out
}

// permanentFlags is the PERMANENTFLAGS list: FLAGS and \* (any new
// keyword may be stored), nothing when read-only.
func (v *view) permanentFlags() []goimap.Flag {
	if v.readOnly {
		return nil
	}
	return append(v.mailboxFlags(), goimap.FlagWildcard)
}

// claimRecent takes the folder's unclaimed messages up to uidNext as
// this session's \Recent ones; EXAMINE sees them without claiming.
func (s *session) claimRecent(v *view, msgs []mailbox.MessageInfo, uidNext uint32) error {
	from, err := s.store().ClaimRecent(s.account, v.name, uidNext, !v.readOnly)
	if err != nil {
		return err
	}
	if v.recent == nil {
		v.recent = map[uint32]bool{}
	}
	for _, m := range msgs {
		if m.UID >= from {
			v.recent[m.UID] = true
		}
	}
	return nil
}

// numRecent counts the view's messages that are recent in this session
// (RECENT may not count expunged ones).
func (v *view) numRecent() uint32 {
	n := uint32(0)
	for _, m := range v.msgs {
		if v.recent[m.uid] {
			n++
		}
	}
	return n
}

// withRecent returns flags as the client sees them: \Recent added for
// this session's recent messages.
func (v *view) withRecent(uid uint32, flags []string) []string {
	if !v.recent[uid] {
		return flags
	}
	return append(append(make([]string, 0, len(flags)+1), flags...), `\Recent`)
}

// writeFlagsUpdate announces the grown vocabulary (Poll's output).
func (v *view) writeFlagsUpdate(w *updateWriter, msgs []mailbox.MessageInfo, vocab []string) error {
	if !v.learnKeywords(msgs, vocab...) {
		return nil
	}
	return w.WriteMailboxFlags(v.mailboxFlags(), v.permanentFlags())
}
