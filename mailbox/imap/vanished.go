package imap

import (
	"cmp"
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
func (s *session) writeVanishedSince(c *conn, set uidRanges, modseq uint64) {
	ranges, err := s.store().ExpungedSince(s.account, s.sel.name, modseq)
	if err != nil {
		s.imapError(err) // logged; nothing is reported
		return
	}
	if set != nil {
		ranges = set.intersect(ranges)
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

// uidRanges is a set of UIDs as ascending, disjoint ranges, so that a
// client's long set costs a binary search per question, not a scan.
type uidRanges []mailbox.UIDRange

// sortRanges turns a client's UID set (any order, overlaps) into
// uidRanges.
func sortRanges(set goimap.UIDSet) uidRanges {
	out := make(uidRanges, 0, len(set))
	for _, r := range set {
		lo, hi := uint32(r.Start), uint32(r.Stop)
		out = append(out, mailbox.UIDRange{First: min(lo, hi), Last: max(lo, hi)})
	}
	slices.SortFunc(out, func(a, b mailbox.UIDRange) int { return cmp.Compare(a.First, b.First) })
	merged := out[:0]
	for _, r := range out {
		if n := len(merged); n > 0 && uint64(r.First) <= uint64(merged[n-1].Last)+1 {
			merged[n-1].Last = max(merged[n-1].Last, r.Last)
			continue
		}
		merged = append(merged, r)
	}
	return merged
}

// first returns the index of the first range that ends at or after uid.
func (u uidRanges) first(uid uint32) int {
	i, _ := slices.BinarySearchFunc(u, uid, func(r mailbox.UIDRange, x uint32) int { return cmp.Compare(r.Last, x) })
	return i
}

func (u uidRanges) contains(uid uint32) bool {
	i := u.first(uid)
	return i < len(u) && u[i].First <= uid
}

// intersect returns the parts of ranges (ascending) inside u.
func (u uidRanges) intersect(ranges []mailbox.UIDRange) []mailbox.UIDRange {
	var out []mailbox.UIDRange
	for _, r := range ranges {
		for i := u.first(r.First); i < len(u) && u[i].First <= r.Last; i++ {
			out = append(out, mailbox.UIDRange{First: max(r.First, u[i].First), Last: min(r.Last, u[i].Last)})
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
