package imap

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	goimap "github.com/emersion/go-imap/v2"
)

// QRESYNC (RFC 7162 §3.2): a client that remembers a mailbox's
// UIDVALIDITY, HIGHESTMODSEQ and UIDs selects it with them and hears
// only what changed since: the UIDs expunged (* VANISHED (EARLIER)) and
// the messages whose flags changed (FETCH with UID, FLAGS and MODSEQ).
// New messages it then asks for with UID FETCH ... (CHANGEDSINCE n).

// selectOptions are SELECT's and EXAMINE's parameters (RFC 4466).
type selectOptions struct {
	condstore bool
	qresync   *qresyncParams
}

// qresyncParams is SELECT's (QRESYNC (uidvalidity modseq [known-uids
// [seq-match-data]])). The seq-match-data is read and not used: the
// store remembers expunges exactly (mailbox/modseq.go), and where it
// forgot, answering every absent UID is what RFC 7162 §3.2.5.1 allows.
type qresyncParams struct {
	uidValidity uint32
	modseq      uint64
	known       goimap.UIDSet // nil: every UID
}

// selectParams reads SELECT's parameter list: CONDSTORE and QRESYNC.
func (c *conn) selectParams(args *argReader) (selectOptions, error) {
	var o selectOptions
	if err := args.sp(); err != nil {
		return o, err
	}
	err := args.list(func() error {
		w, err := args.word()
		if err != nil {
			return err
		}
		switch strings.ToUpper(w) {
		case "CONDSTORE":
			o.condstore = true
			return nil
		case "QRESYNC":
			if !c.qresync() {
				return fmt.Errorf("QRESYNC needs ENABLE QRESYNC first")
			}
			if o.qresync != nil || args.sp() != nil {
				return errQresyncSyntax
			}
			o.qresync, err = parseQresync(args)
			return err
		}
		return fmt.Errorf("unknown parameter %q; use CONDSTORE or QRESYNC", w)
	})
	if err == nil && !args.end() {
		err = fmt.Errorf("unexpected text after the parameters")
	}
	return o, err
}

var errQresyncSyntax = fmt.Errorf("QRESYNC takes (uidvalidity modseq [known-uids [(known-sequence-set known-uid-set)]])")

// parseQresync reads "(" uidvalidity SP modseq [SP known-uids]
// [SP "(" seq-set SP uid-set ")"] ")".
func parseQresync(args *argReader) (*qresyncParams, error) {
	if !args.take("(") {
		return nil, errQresyncSyntax
	}
	q := &qresyncParams{}
	w, err := args.word()
	uv, perr := strconv.ParseUint(w, 10, 32)
	if err != nil || perr != nil || uv == 0 {
		return nil, fmt.Errorf("QRESYNC needs the UIDVALIDITY the client knows, a number above 0, not %q", w)
	}
	q.uidValidity = uint32(uv)
	if q.modseq, err = modseqArg(args, "QRESYNC"); err != nil || q.modseq == 0 {
		return nil, fmt.Errorf("QRESYNC needs the HIGHESTMODSEQ the client knows, a number above 0")
	}
	if args.take(")") {
		return q, nil
	}
	if args.sp() != nil {
		return nil, errQresyncSyntax
	}
	if !args.peek("(") {
		known, err := uidSetArg(args)
		if err != nil {
			return nil, err
		}
		q.known = known
		if args.take(")") {
			return q, nil
		}
		if args.sp() != nil {
			return nil, errQresyncSyntax
		}
	}
	if err := seqMatchData(args); err != nil {
		return nil, err
	}
	if !args.take(")") {
		return nil, errQresyncSyntax
	}
	return q, nil
}

// uidSetArg reads a set of UIDs ("$" is not one here).
func uidSetArg(args *argReader) (goimap.UIDSet, error) {
	set, err := args.numSet(true)
	if err != nil {
		return nil, err
	}
	us, ok := set.(goimap.UIDSet)
	if !ok {
		return nil, errQresyncSyntax
	}
	return us, nil
}

// seqMatchData reads "(" known-sequence-set SP known-uid-set ")".
func seqMatchData(args *argReader) error {
	if !args.take("(") {
		return errQresyncSyntax
	}
	if _, err := args.numSet(false); err != nil {
		return err
	}
	if args.sp() != nil {
		return errQresyncSyntax
	}
	if _, err := uidSetArg(args); err != nil {
		return err
	}
	if !args.take(")") {
		return errQresyncSyntax
	}
	return nil
}

// selectModSeq finishes a SELECT for CONDSTORE and QRESYNC: the
// HIGHESTMODSEQ once CONDSTORE is on (as Dovecot does; a client that
// enables it later is told then: enableCondstore), then QRESYNC's
// changes.
func (c *conn) selectModSeq(o selectOptions, uidValidity uint32) {
	if o.condstore || o.qresync != nil {
		c.enabled["CONDSTORE"] = true
	}
	if !c.condstore() {
		return
	}
	c.write(highestModSeqLine(c.sess.sel.highestModSeq))
	if q := o.qresync; q != nil && q.uidValidity == uidValidity {
		c.sess.resync(c, q)
	}
}

// resync answers SELECT's QRESYNC: the known UIDs expunged since the
// client's MODSEQ, then FETCH (UID FLAGS MODSEQ) of the known messages
// changed since. A message changed after the SELECT's snapshot is left
// to the next poll.
func (s *session) resync(c *conn, q *qresyncParams) {
	v := s.sel
	var known uidRanges // nil: every UID
	if q.known != nil {
		known = v.uidSet(q.known)
	}
	s.writeVanishedSince(c, known, q.modseq)
	changed, err := s.store().ChangedSince(s.account, v.name, q.modseq)
	if err != nil {
		s.imapError(err) // logged; the SELECT stands, the client resyncs later
		return
	}
	for _, m := range changed {
		i, ok := v.indexOf(m.UID)
		if !ok || v.msgs[i].gone || known != nil && !known.contains(m.UID) || m.ModSeq > v.highestModSeq {
			continue // not known, or changed after the snapshot: left to the next poll
		}
		v.msgs[i].flags, v.msgs[i].modseq = strings.Join(m.Flags, " "), m.ModSeq
		w := &updateWriter{c: c}
		if w.writeFlagsFetch(uint32(i+1), m, toFlags(v.withRecent(m.UID, m.Flags))) != nil {
			return
		}
	}
}

// uidSet makes a UID set static ("$" and "*" replaced) and sorted; nil
// (no known-uids in QRESYNC) stays nil: every UID. "*" is the highest
// UID ever given, so that UIDs expunged above the last message count too.
func (v *view) uidSet(set goimap.NumSet) uidRanges {
	if set == nil {
		return nil
	}
	if goimap.IsSearchRes(set) {
		set = append(goimap.UIDSet{}, v.searchRes...) // no saved result: none
	}
	us, ok := set.(goimap.UIDSet)
	if !ok {
		return uidRanges{} // a sequence set names no UIDs here
	}
	return sortRanges(staticUID(us, max(v.uidNext, 2)-1))
}

// indexOf finds a UID in the view (its messages are in UID order).
func (v *view) indexOf(uid uint32) (int, bool) {
	return slices.BinarySearchFunc(v.msgs, uid, func(m viewMsg, u uint32) int { return cmp.Compare(m.uid, u) })
}

// modseqReport keeps a QRESYNC client's idea of HIGHESTMODSEQ true.
// Clients (imaptest among them) raise their HIGHESTMODSEQ to the highest
// MODSEQ of the FETCH responses a command brought. During FETCH, STORE
// and SEARCH, expunges wait (RFC 9051 §7.5.1) while those MODSEQs may
// pass theirs: a client that then left and came back with QRESYNC would
// never hear of the expunges. So after such a command the client is
// told the HIGHESTMODSEQ from before the waiting expunges, which resets
// what it learnt from the FETCH responses; and after expunges and new
// messages, which FETCH responses do not show, the new one. (Dovecot
// does the same.)
type modseqReport struct {
	told    uint64 // HIGHESTMODSEQ up to which the client was told all
	fetched uint64 // highest MODSEQ in FETCH responses since the last report
	delayed bool   // expunges wait to be told
}

// sent notes a MODSEQ written in a FETCH response.
func (r *modseqReport) sent(n uint64) { r.fetched = max(r.fetched, n) }

// reportModSeq writes "* OK [HIGHESTMODSEQ n]" after a poll when a
// QRESYNC client needs it (see modseqReport).
func (s *session) reportModSeq(w *updateWriter) error {
	v := s.sel
	if v == nil {
		return nil
	}
	r := &v.modseqReport
	fetched := r.fetched
	r.fetched = 0
	if !w.c.qresync() {
		return nil
	}
	var send uint64
	switch {
	case r.delayed && fetched > v.highestModSeq:
		send = v.highestModSeq
	case !r.delayed && v.highestModSeq > r.told && v.highestModSeq > fetched:
		send = v.highestModSeq
	}
	if !r.delayed {
		r.told = v.highestModSeq
	}
	if send == 0 {
		return nil
	}
	return w.c.write(highestModSeqLine(send))
}
