package imap

import (
	"fmt"
	"strconv"
	"strings"

	goimap "github.com/emersion/go-imap/v2"

	"mailgate/mailbox"
)

// CONDSTORE (RFC 7162 §3.1) over the store's durable MODSEQs
// (mailbox/modseq.go). It is on for a session once the client enables
// it (ENABLE CONDSTORE or QRESYNC) or uses a CONDSTORE enabling
// command: SELECT/EXAMINE (CONDSTORE), FETCH MODSEQ or CHANGEDSINCE,
// SEARCH MODSEQ, STORE UNCHANGEDSINCE, STATUS HIGHESTMODSEQ. From then
// on every FETCH response that carries FLAGS also carries MODSEQ, so the
// client can keep its HIGHESTMODSEQ in step. QRESYNC is in qresync.go
// and vanished.go.

// condstore reports whether CONDSTORE is on for the session.
func (c *conn) condstore() bool { return c.enabled["CONDSTORE"] }

// qresync reports whether the client enabled QRESYNC.
func (c *conn) qresync() bool { return c.enabled["QRESYNC"] }

// enableCondstore turns CONDSTORE on for an enabling command. The first
// time, with a mailbox selected, the client is told its HIGHESTMODSEQ
// (RFC 7162 §3.1), since the SELECT it saw may have predated CONDSTORE.
func (c *conn) enableCondstore() {
	if c.enabled["CONDSTORE"] {
		return
	}
	c.enabled["CONDSTORE"] = true
	if c.state == stateSelected && c.sess.sel != nil {
		c.write(highestModSeqLine(c.sess.sel.highestModSeq))
	}
}

// highestModSeqLine is the untagged OK with HIGHESTMODSEQ. A folder
// that never held a message has HIGHESTMODSEQ 0 in the store, which
// RFC 7162's syntax does not allow: it is sent as 1, below every MODSEQ
// the store gives (mailbox/modseq.go starts at 2).
func highestModSeqLine(n uint64) string {
	return "* OK [HIGHESTMODSEQ " + strconv.FormatUint(max(n, 1), 10) + "] Highest"
}

// enable turns on one capability named in ENABLE and reports whether
// this command turned it on (for "* ENABLED"). QRESYNC brings CONDSTORE.
func (c *conn) enable(up string) bool {
	switch up {
	case "IMAP4REV2", "UTF8=ACCEPT":
	case "CONDSTORE":
		was := c.condstore()
		c.enableCondstore()
		return !was
	case "QRESYNC":
		c.enableCondstore()
	default:
		return false
	}
	if c.enabled[up] {
		return false
	}
	c.enabled[up] = true
	return true
}

// modseqArg reads SP and a mod-sequence (RFC 7162: 1*DIGIT up to 2^63-1;
// 0 is allowed where mod-sequence-valzer is, and harmless elsewhere).
func modseqArg(args *argReader, name string) (uint64, error) {
	bad := fmt.Errorf("%s needs a mod-sequence: a number from 0 to 9223372036854775807", name)
	if args.sp() != nil {
		return 0, bad
	}
	w, err := args.word()
	if err != nil {
		return 0, bad
	}
	n, err := strconv.ParseUint(w, 10, 63)
	if err != nil || w[0] == '+' {
		return 0, fmt.Errorf("%s needs a mod-sequence: a number from 0 to 9223372036854775807, not %q", name, w)
	}
	return n, nil
}

// modifiers reads FETCH's modifiers: SP "(" CHANGEDSINCE n [SP VANISHED] ")",
// and UID FETCH's PARTIAL range (RFC 9394 §3.3), in any order.
func (req *fetchRequest) modifiers(args *argReader, uid bool) error {
	if err := args.sp(); err != nil || !args.peek("(") {
		return fmt.Errorf("unexpected text after the data items")
	}
	err := args.list(func() error {
		w, err := args.word()
		if err != nil {
			return err
		}
		switch strings.ToUpper(w) {
		case "CHANGEDSINCE":
			n, err := modseqArg(args, "CHANGEDSINCE")
			req.opts.ChangedSince, req.changedSince, req.opts.ModSeq = n, true, true
			return err
		case "VANISHED":
			req.vanished = true
			return nil
		case "PARTIAL":
			return req.partialModifier(args, uid)
		}
		return fmt.Errorf("unknown FETCH modifier %q; use CHANGEDSINCE, VANISHED or (UID FETCH) PARTIAL", w)
	})
	switch {
	case err != nil:
		return err
	case !args.end():
		return fmt.Errorf("unexpected text after the FETCH modifiers")
	case req.vanished && !uid:
		return fmt.Errorf("VANISHED is for UID FETCH only")
	case req.vanished && !req.changedSince:
		return fmt.Errorf("VANISHED needs CHANGEDSINCE, as in (CHANGEDSINCE 12345 VANISHED)")
	}
	return nil
}

// fetchCondstore applies CONDSTORE to a parsed FETCH before it runs:
// MODSEQ and CHANGEDSINCE enable it, FLAGS then bring MODSEQ, and
// VANISHED (QRESYNC only) is answered first.
func (c *conn) fetchCondstore(req *fetchRequest, set goimap.NumSet) error {
	if req.vanished && !c.qresync() {
		return fmt.Errorf("VANISHED needs ENABLE QRESYNC first")
	}
	if req.opts.ModSeq {
		c.enableCondstore()
	}
	if c.condstore() && req.opts.Flags {
		req.opts.ModSeq = true
	}
	if req.vanished {
		c.sess.writeVanishedSince(c, c.sess.sel.uidSet(set), req.opts.ChangedSince)
	}
	return nil
}

// storeModifiers reads STORE's optional SP "(" UNCHANGEDSINCE n ")".
func storeModifiers(args *argReader) (*uint64, error) {
	if !args.peek(" (") {
		return nil, nil
	}
	args.take(" ")
	var n *uint64
	err := args.list(func() error {
		w, err := args.word()
		if err != nil {
			return err
		}
		if !strings.EqualFold(w, "UNCHANGEDSINCE") || n != nil {
			return fmt.Errorf("unknown STORE modifier %q; use UNCHANGEDSINCE", w)
		}
		v, err := modseqArg(args, "UNCHANGEDSINCE")
		n = &v
		return err
	})
	if err == nil && n == nil {
		err = fmt.Errorf("STORE modifiers: write (UNCHANGEDSINCE n) or leave them out")
	}
	return n, err
}

// setFlags changes flags in the selected folder, with UNCHANGEDSINCE
// when given: the store tests and changes under one lock. failed holds
// the UIDs left alone because they changed since.
func (s *session) setFlags(uids []uint32, op mailbox.FlagOp, flags []string, unchangedSince *uint64) (
	infos []mailbox.MessageInfo, failed []uint32, err error) {
	if unchangedSince == nil {
		infos, err = s.store().SetFlags(s.account, s.sel.name, uids, op, flags)
		return infos, nil, err
	}
	return s.store().SetFlagsUnchangedSince(s.account, s.sel.name, uids, op, flags, *unchangedSince)
}

// storeReply writes STORE's FETCH response for one message m: FLAGS
// unless .SILENT; with CONDSTORE, MODSEQ too, and even with .SILENT when
// the MODSEQ changed (RFC 7162 §3.1.3).
func (s *session) storeReply(w *fetchWriter, t target, m *mailbox.MessageInfo, silent bool) error {
	vm := &s.sel.msgs[t.seq-1]
	changed := m.ModSeq != vm.modseq
	vm.flags, vm.modseq = strings.Join(m.Flags, " "), m.ModSeq
	cs := w.c.condstore()
	if silent && !(cs && changed) {
		return nil
	}
	mw := w.CreateMessage(t.seq)
	mw.WriteUID(goimap.UID(t.uid))
	if !silent {
		mw.WriteFlags(toFlags(s.sel.withRecent(t.uid, m.Flags)))
	}
	if cs {
		mw.WriteModSeq(m.ModSeq)
	}
	return mw.Close()
}

// targetsOf returns the targets whose UIDs are in uids (ascending).
func targetsOf(ts []target, uids []uint32) []target {
	var out []target
	for _, t := range ts {
		if containsUID(uids, t.uid) {
			out = append(out, t)
		}
	}
	return out
}

// modifiedCode is the "[MODIFIED set] " of a STORE whose UNCHANGEDSINCE
// test failed for some messages: sequence numbers, or UIDs for UID STORE.
func modifiedCode(failed []target, uid bool) string {
	if len(failed) == 0 {
		return ""
	}
	var set goimap.SeqSet
	for _, t := range failed {
		if uid {
			set.AddNum(t.uid)
		} else {
			set.AddNum(t.seq)
		}
	}
	return "[MODIFIED " + set.String() + "] "
}

// WriteModSeq writes FETCH's MODSEQ item.
func (m *msgWriter) WriteModSeq(n uint64) {
	m.w.c.sess.sel.modseqReport.sent(n)
	m.sep()
	m.r.raw("MODSEQ (").raw(strconv.FormatUint(n, 10)).raw(")")
}

// writeFlagsFetch tells the client of a message's new flags (another
// session's change), with its MODSEQ once CONDSTORE is on.
func (w *updateWriter) writeFlagsFetch(seq uint32, m mailbox.MessageInfo, flags []goimap.Flag) error {
	r := w.c.newResp()
	r.raw("* ").num(seq).raw(" FETCH (UID ").num(m.UID).raw(" FLAGS ").flags(flags)
	if w.c.condstore() {
		w.c.sess.sel.modseqReport.sent(m.ModSeq)
		r.raw(" MODSEQ (").raw(strconv.FormatUint(m.ModSeq, 10)).raw(")")
	}
	return w.c.send(r.raw(")").crlf())
}
