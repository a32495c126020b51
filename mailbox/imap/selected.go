package imap

import (
	"errors"
	"slices"
	"strings"

	goimap "github.com/emersion/go-imap/v2"

	"mailgate/mailbox"
)

// view is a session's picture of its selected folder: the messages in
// sequence-number order as this client knows them. Poll brings it up to
// date with the store and tells the client what changed.
type view struct {
	name     string
	readOnly bool
	msgs     []viewMsg
	modseq   uint64
	// highestModSeq is the HIGHESTMODSEQ (RFC 7162) up to which the
	// client has been told every change (condstore.go); modseqReport
	// (qresync.go) holds what the client was told of it.
	highestModSeq uint64
	modseqReport  modseqReport
	uidNext       uint32
	searchRes     goimap.UIDSet
	keywords      map[string]string // announced in FLAGS, lower-case -> as first seen (flags.go)
	recent        map[uint32]bool   // \Recent in this session
	watch         <-chan struct{}
	stopWatch     func()
	contexts      []*searchContext // RETURN (UPDATE) searches and sorts (context.go)
}

type viewMsg struct {
	uid   uint32
	flags string // space-joined, to compare cheaply
	// modseq is the MODSEQ the client last saw with flags (condstore.go).
	modseq uint64
	gone   bool // expunged, not yet reported (EXPUNGE not allowed then)
}

var systemFlags = []goimap.Flag{goimap.FlagSeen, goimap.FlagAnswered, goimap.FlagFlagged, goimap.FlagDeleted, goimap.FlagDraft}

func (s *session) Select(name string, options *goimap.SelectOptions) (*goimap.SelectData, error) {
	s.srv.metrics.commands.WithLabelValues("SELECT").Inc()
	s.Unselect()
	canon, err := mailbox.CanonicalFolder(name)
	if err != nil {
		return nil, s.imapError(err)
	}
	snap, err := s.store().Messages(s.account, canon)
	if err != nil {
		return nil, s.imapError(err)
	}
	watch, stop, err := s.store().Watch(s.account)
	if err != nil {
		return nil, s.imapError(err)
	}
	v := &view{name: canon, readOnly: options.ReadOnly, modseq: snap.ModSeq, uidNext: snap.UIDNext,
		highestModSeq: snap.HighestModSeq, modseqReport: modseqReport{told: snap.HighestModSeq},
		watch: watch, stopWatch: stop, msgs: make([]viewMsg, len(snap.Messages))}
	if err := s.claimRecent(v, snap.Messages, snap.UIDNext); err != nil {
		stop()
		return nil, s.imapError(err)
	}
	v.learnKeywords(snap.Messages, snap.Keywords...)
	data := &goimap.SelectData{
		Flags:          v.mailboxFlags(),
		PermanentFlags: v.permanentFlags(),
		NumMessages:    uint32(len(snap.Messages)),
		NumRecent:      uint32(len(v.recent)), // all of the snapshot's messages are in view
		UIDNext:        goimap.UID(snap.UIDNext),
		UIDValidity:    snap.UIDValidity,
	}
	for i, m := range snap.Messages {
		v.msgs[i] = viewMsg{uid: m.UID, flags: strings.Join(m.Flags, " "), modseq: m.ModSeq}
		if data.FirstUnseenSeqNum == 0 && !hasFlag(m.Flags, mailbox.FlagSeen) {
			data.FirstUnseenSeqNum = uint32(i + 1)
		}
	}
	s.sel = v
	return data, nil
}

func hasFlag(flags []string, f string) bool {
	for _, x := range flags {
		if strings.EqualFold(x, f) {
			return true
		}
	}
	return false
}

func (s *session) Unselect() error {
	s.srv.metrics.commands.WithLabelValues("UNSELECT").Inc()
	if s.sel != nil {
		s.sel.stopWatch()
		s.sel = nil
	}
	return nil
}

// Poll reports what other sessions, deliveries and Maildir tools changed
// since the last command: new flags, expunges (when allowed) and EXISTS,
// then how the results of live search contexts changed, with QRESYNC the
// HIGHESTMODSEQ when the client needs it, then what NOTIFY watches in
// other mailboxes.
func (s *session) Poll(w *updateWriter, allowExpunge bool) error {
	if err := s.pollView(w, allowExpunge); err != nil {
		return err
	}
	if err := s.updateContexts(w.c.write); err != nil {
		return err
	}
	if err := s.reportModSeq(w); err != nil {
		return err
	}
	return w.c.notifyOthers()
}

func (s *session) pollView(w *updateWriter, allowExpunge bool) error {
	s.srv.metrics.commands.WithLabelValues("NOOP").Inc()
	v := s.sel
	if v == nil {
		return nil
	}
	if ms, err := s.store().ModSeq(s.account, v.name); err != nil || ms == v.modseq {
		return nil // unchanged; a folder deleted under us just stops changing
	}
	snap, err := s.store().Messages(s.account, v.name)
	if err != nil {
		return nil
	}
	if err := v.writeFlagsUpdate(w, snap.Messages, snap.Keywords); err != nil {
		return err
	}
	var next []viewMsg
	var gone []int // 1-based sequence numbers
	j := 0
	for i, vm := range v.msgs {
		for j < len(snap.Messages) && snap.Messages[j].UID < vm.uid {
			j++
		}
		if j < len(snap.Messages) && snap.Messages[j].UID == vm.uid && !vm.gone {
			m := snap.Messages[j]
			if f := strings.Join(m.Flags, " "); f != vm.flags || w.c.condstore() && m.ModSeq != vm.modseq {
				vm.flags, vm.modseq = f, m.ModSeq
				if err := w.writeFlagsFetch(uint32(i+1), m, toFlags(v.withRecent(m.UID, m.Flags))); err != nil {
					return err
				}
			}
			next = append(next, vm)
			continue
		}
		vm.gone = true
		gone = append(gone, i+1)
		next = append(next, vm)
	}
	last := uint32(0)
	if len(v.msgs) > 0 {
		last = v.msgs[len(v.msgs)-1].uid
	}
	if allowExpunge {
		if err := s.contextsExpunging(v.uidsAt(gone), w.c.write); err != nil {
			return err
		}
		if err := w.writeGone(next, gone); err != nil {
			return err
		}
		for k := len(gone) - 1; k >= 0; k-- {
			next = append(next[:gone[k]-1], next[gone[k]:]...)
		}
		gone = nil
	}
	v.modseqReport.delayed = len(gone) > 0
	var added []mailbox.MessageInfo
	for _, m := range snap.Messages {
		if m.UID > last {
			next = append(next, viewMsg{uid: m.UID, flags: strings.Join(m.Flags, " "), modseq: m.ModSeq})
			added = append(added, m)
		}
	}
	v.msgs, v.uidNext = next, snap.UIDNext
	if len(gone) == 0 {
		v.modseq, v.highestModSeq = snap.ModSeq, snap.HighestModSeq
	}
	if len(added) == 0 {
		return nil
	}
	claimErr := s.claimRecent(v, added, snap.UIDNext)
	if err := w.WriteNumMessages(uint32(len(next))); err != nil {
		return err
	}
	if claimErr != nil {
		return nil // the messages show, without \Recent
	}
	return w.WriteNumRecent(v.numRecent())
}

func toFlags(fs []string) []goimap.Flag {
	out := make([]goimap.Flag, len(fs))
	for i, f := range fs {
		out[i] = goimap.Flag(f)
	}
	return out
}

// Idle waits for changes in the account (a delivery, another session)
// and reports them at once.
func (s *session) Idle(w *updateWriter, stop <-chan struct{}) error {
	s.srv.metrics.commands.WithLabelValues("IDLE").Inc()
	if err := s.Poll(w, true); err != nil {
		return err
	}
	var wake <-chan struct{}
	if s.sel != nil {
		wake = s.sel.watch
	} else if w.c.notify != nil { // NOTIFY outside a mailbox
		if ch, stop, err := s.store().Watch(s.account); err == nil {
			defer stop()
			wake = ch
		}
	}
	for {
		select {
		case <-stop:
			return nil
		case <-wake:
			if err := s.Poll(w, true); err != nil {
				return err
			}
		}
	}
}

// target is one message a command addresses.
type target struct {
	seq uint32
	uid uint32
}

// resolve maps a sequence or UID set, "*" and "$" (SEARCHRES) included,
// to the messages of the view that still exist.
func (v *view) resolve(numSet goimap.NumSet) []target {
	if goimap.IsSearchRes(numSet) {
		numSet = v.searchRes
	}
	var out []target
	switch set := numSet.(type) {
	case goimap.SeqSet:
		set = staticSeq(set, uint32(len(v.msgs)))
		for i, m := range v.msgs {
			if !m.gone && set.Contains(uint32(i+1)) {
				out = append(out, target{uint32(i + 1), m.uid})
			}
		}
	case goimap.UIDSet:
		maxUID := v.uidNext - 1
		if n := len(v.msgs); n > 0 {
			maxUID = v.msgs[n-1].uid
		}
		set = staticUID(set, maxUID)
		for i, m := range v.msgs {
			if !m.gone && set.Contains(goimap.UID(m.uid)) {
				out = append(out, target{uint32(i + 1), m.uid})
			}
		}
	}
	return out
}

func staticSeq(set goimap.SeqSet, max uint32) goimap.SeqSet {
	out := make(goimap.SeqSet, len(set))
	for i, r := range set {
		out[i] = r
		staticRange(&out[i].Start, &out[i].Stop, max)
	}
	return out
}

func staticUID(set goimap.UIDSet, max uint32) goimap.UIDSet {
	out := make(goimap.UIDSet, len(set))
	for i, r := range set {
		start, stop := uint32(r.Start), uint32(r.Stop)
		staticRange(&start, &stop, max)
		out[i] = goimap.UIDRange{Start: goimap.UID(start), Stop: goimap.UID(stop)}
	}
	return out
}

// staticRange replaces "*" (0) by the highest number in use.
func staticRange(start, stop *uint32, max uint32) {
	if *start == 0 {
		*start = max
	}
	if *stop == 0 {
		*stop = max
	}
	if *start > *stop {
		*start, *stop = *stop, *start
	}
}

func uidsOf(ts []target) []uint32 {
	out := make([]uint32, len(ts))
	for i, t := range ts {
		out[i] = t.uid
	}
	return out
}

var errReadOnly = &goimap.Error{Type: goimap.StatusResponseTypeNo, Code: goimap.ResponseCodeCannot,
	Text: "Mailbox is read-only (EXAMINE); SELECT it to make changes"}

// Store changes flags and answers with FETCH responses (with MODSEQ
// once CONDSTORE is on, even for .SILENT: RFC 7162 §3.1.3). With
// unchangedSince (STORE's UNCHANGEDSINCE), messages changed since are
// left alone and returned, for the MODIFIED response code.
func (s *session) Store(w *fetchWriter, numSet goimap.NumSet, flags *goimap.StoreFlags, unchangedSince *uint64) ([]target, error) {
	s.srv.metrics.commands.WithLabelValues("STORE").Inc()
	v := s.sel
	if v.readOnly {
		return nil, errReadOnly
	}
	ts := v.resolve(numSet)
	op := map[goimap.StoreFlagsOp]mailbox.FlagOp{goimap.StoreFlagsSet: mailbox.FlagsReplace,
		goimap.StoreFlagsAdd: mailbox.FlagsAdd, goimap.StoreFlagsDel: mailbox.FlagsRemove}[flags.Op]
	fl := make([]string, len(flags.Flags))
	for i, f := range flags.Flags {
		fl[i] = string(f)
	}
	infos, failed, err := s.setFlags(uidsOf(ts), op, fl, unchangedSince)
	if err != nil {
		return nil, s.imapError(err)
	}
	// A FETCH may not show a keyword before FLAGS has announced it: a
	// new keyword is announced first, with PERMANENTFLAGS.
	if err := v.writeFlagsUpdate(&updateWriter{c: w.c}, infos, nil); err != nil {
		return nil, err
	}
	byUID := map[uint32]*mailbox.MessageInfo{}
	for i := range infos {
		byUID[infos[i].UID] = &infos[i]
	}
	for _, t := range ts {
		if m, ok := byUID[t.uid]; ok {
			if err := s.storeReply(w, t, m, flags.Silent); err != nil {
				return nil, err
			}
		}
	}
	return targetsOf(ts, failed), nil
}

func (s *session) Expunge(w *expungeWriter, uids *goimap.UIDSet) error {
	s.srv.metrics.commands.WithLabelValues("EXPUNGE").Inc()
	v := s.sel
	if v.readOnly {
		return nil // CLOSE after EXAMINE; EXPUNGE there changes nothing
	}
	var only []uint32
	if uids != nil {
		only = uidsOf(v.resolve(*uids))
		if len(only) == 0 {
			return nil
		}
	}
	removed, err := s.store().Expunge(s.account, v.name, only)
	if err != nil && len(removed) == 0 {
		return s.imapError(err)
	}
	if w.c != nil {
		if err := s.contextsExpunging(removed, w.c.write); err != nil {
			return err
		}
	}
	return v.dropSeqs(removed, w)
}

// dropSeqs removes messages from the view, telling the client each
// sequence number from the highest down so the numbers stay valid (or,
// with QRESYNC, their UIDs in one VANISHED: vanished.go).
func (v *view) dropSeqs(uids []uint32, w expungeReporter) error {
	if w.vanishing() {
		return v.dropVanished(uids, w)
	}
	for i := len(v.msgs) - 1; i >= 0; i-- {
		if !containsUID(uids, v.msgs[i].uid) {
			continue
		}
		if err := w.WriteExpunge(uint32(i + 1)); err != nil {
			return err
		}
		v.msgs = append(v.msgs[:i], v.msgs[i+1:]...)
	}
	return nil
}

func containsUID(uids []uint32, uid uint32) bool {
	i, j := 0, len(uids)
	for i < j { // uids are ascending
		h := (i + j) / 2
		if uids[h] < uid {
			i = h + 1
		} else {
			j = h
		}
	}
	return i < len(uids) && uids[i] == uid
}

func (s *session) Copy(numSet goimap.NumSet, dest string) (*goimap.CopyData, error) {
	s.srv.metrics.commands.WithLabelValues("COPY").Inc()
	res, err := s.store().Copy(s.account, s.sel.name, uidsOf(s.sel.resolve(numSet)), dest)
	if err != nil {
		return nil, s.copyError(err)
	}
	return copyData(res), nil
}

func (s *session) copyError(err error) error {
	if errors.Is(err, mailbox.ErrNoFolder) {
		return errTryCreate
	}
	return s.imapError(err)
}

// copyData is the COPYUID of a copy or move; nil when no message was
// copied (a set of expunged or absent messages), which is answered plain
// OK: imapserver cannot write an empty UID set and answered SERVERBUG in
// the middle of the OK line.
func copyData(res mailbox.CopyResult) *goimap.CopyData {
	if len(res.Source) == 0 {
		return nil
	}
	d := &goimap.CopyData{UIDValidity: res.UIDValidity}
	for i := range res.Source {
		d.SourceUIDs.AddNum(goimap.UID(res.Source[i]))
		d.DestUIDs.AddNum(goimap.UID(res.Dest[i]))
	}
	return d
}

func (s *session) Move(w *moveWriter, numSet goimap.NumSet, dest string) error {
	s.srv.metrics.commands.WithLabelValues("MOVE").Inc()
	v := s.sel
	if v.readOnly {
		return errReadOnly
	}
	res, err := s.store().Move(s.account, v.name, uidsOf(v.resolve(numSet)), dest)
	if err != nil && len(res.Source) == 0 {
		return s.copyError(err)
	}
	if d := copyData(res); d != nil {
		if err := w.WriteCopyData(d); err != nil {
			return err
		}
	}
	moved := append([]uint32(nil), res.Source...)
	sortUIDs(moved)
	if err := s.contextsExpunging(moved, w.c.write); err != nil {
		return err
	}
	return v.dropSeqs(moved, w)
}

func sortUIDs(u []uint32) { slices.Sort(u) }
