package imap

import (
	"slices"

	goimap "github.com/emersion/go-imap/v2"

	"mailgate/mailbox"
)

// VANISHED (RFC 7162 §3.2.10): once a client enabled QRESYNC, expunges
// are told as "* VANISHED uid-set" instead of "* n EXPUNGE", by EXPUNGE,
// UID EXPUNGE, MOVE and the polls of NOOP, IDLE and the other commands;
// and "* VANISHED (EARLIER) uid-set" names UIDs expunged before this
// session saw them (SELECT ... QRESYNC, UID FETCH ... VANISHED), which
// the message count never held.

// expungeReporter is what dropSeqs tells of messages leaving the view.
type expungeReporter interface {
	WriteExpunge(seq uint32) error
	WriteVanished(uids []uint32) error
	vanishing() bool // VANISHED rather than EXPUNGE
}

func (w *expungeWriter) vanishing() bool { return w.c != nil && w.c.qresync() }

func (w *expungeWriter) WriteVanished(uids []uint32) error { return writeVanished(w.c, uids) }

func (w *moveWriter) vanishing() bool { return w.c.qresync() }

func (w *moveWriter) WriteVanished(uids []uint32) error { return writeVanished(w.c, uids) }

// writeVanished writes "* VANISHED uids" (none: nothing).
func writeVanished(c *conn, uids []uint32) error {
	if len(uids) == 0 || c == nil {
		return nil
	}
	var set goimap.UIDSet
	for _, u := range uids {
		set.AddNum(goimap.UID(u))
	}
	return c.write("* VANISHED " + set.String())
}

// dropVanished removes the messages with the given UIDs (ascending) from
// the view and tells the client in one VANISHED.
func (v *view) dropVanished(uids []uint32, w expungeReporter) error {
	var gone []uint32
	kept := v.msgs[:0]
	for _, m := range v.msgs {
		if containsUID(uids, m.uid) {
			gone = append(gone, m.uid)
		} else {
			kept = append(kept, m)
		}
	}
	v.msgs = kept
	return w.WriteVanished(gone)
}

// writeGone tells the client of the messages at the given 1-based
// positions of msgs, which another session expunged: EXPUNGE from the
// highest down, or one VANISHED.
func (w *updateWriter) writeGone(msgs []viewMsg, gone []int) error {
	if !w.c.qresync() {
		for k := len(gone) - 1; k >= 0; k-- {
			if err := w.WriteExpunge(uint32(gone[k])); err != nil {
				return err
			}
		}
		return nil
	}
	uids := make([]uint32, len(gone))
	for k, i := range gone {
		uids[k] = msgs[i-1].uid
	}
	return writeVanished(w.c, uids)
}

// writeVanishedSince writes "* VANISHED (EARLIER)" with the UIDs of set
// (nil: all) expunged at a MODSEQ above modseq. UIDs still in the view
// (expunged since this session's snapshot) are left out: they are in
// the message count, and a poll will report them.
func (s *session) writeVanishedSince(c *conn, set goimap.UIDSet, modseq uint64) {
	ranges, err := s.store().ExpungedSince(s.account, s.sel.name, modseq)
	if err != nil {
		s.imapError(err) // logged; nothing is reported
		return
	}
	if set != nil {
		ranges = intersectRanges(ranges, set)
	}
	inView := make([]uint32, len(s.sel.msgs))
	for i, m := range s.sel.msgs {
		inView[i] = m.uid
	}
	ranges = subtractUIDs(ranges, inView)
	if len(ranges) == 0 {
		return
	}
	var out goimap.UIDSet
	for _, r := range ranges {
		out.AddRange(goimap.UID(r.First), goimap.UID(r.Last))
	}
	c.write("* VANISHED (EARLIER) " + out.String())
}

// intersectRanges returns the parts of ranges inside set.
func intersectRanges(ranges []mailbox.UIDRange, set goimap.UIDSet) []mailbox.UIDRange {
	var out []mailbox.UIDRange
	for _, r := range ranges {
		for _, s := range set {
			lo, hi := max(r.First, uint32(s.Start)), min(r.Last, uint32(s.Stop))
			if lo <= hi {
				out = append(out, mailbox.UIDRange{First: lo, Last: hi})
			}
		}
	}
	return out
}

// subtractUIDs removes the UIDs of uids (ascending) from ranges.
func subtractUIDs(ranges []mailbox.UIDRange, uids []uint32) []mailbox.UIDRange {
	var out []mailbox.UIDRange
	for _, r := range ranges {
		lo := uint64(r.First) // 64 bits: lo may pass the last UID
		i, _ := slices.BinarySearch(uids, r.First)
		for ; i < len(uids) && uids[i] <= r.Last; i++ {
			if uint64(uids[i]) > lo {
				out = append(out, mailbox.UIDRange{First: uint32(lo), Last: uids[i] - 1})
			}
			lo = uint64(uids[i]) + 1
		}
		if lo <= uint64(r.Last) {
			out = append(out, mailbox.UIDRange{First: uint32(lo), Last: r.Last})
		}
	}
	return out
}
