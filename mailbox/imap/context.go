package imap

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	goimap "github.com/emersion/go-imap/v2"
)

// Search contexts (RFC 5267 CONTEXT=SEARCH, CONTEXT=SORT): a SEARCH or
// SORT with RETURN (UPDATE) stays alive while its mailbox is selected,
// and the client is told how its result changes with untagged
// `ESEARCH (TAG "t") ADDTO (...)` / `REMOVEFROM (...)`, until
// CANCELUPDATE names it. A change is found by running the command
// again (its criteria as parsed, "*" and "$" resolved anew each time, as
// "the results an unmodified searching command would return") whenever
// the folder changed, and comparing. A session keeps at most
// maxSearchContexts: each costs one search per change of its folder.

// maxSearchContexts bounds the live contexts of one session; one more
// UPDATE gets NO [NOUPDATE], as RFC 5267 §4.3.1 allows (Dovecot keeps 10).
const maxSearchContexts = 10

// searchContext is one live search or sort.
type searchContext struct {
	tag      string
	uid      bool // UID SEARCH/SORT: updates carry UIDs, else sequence numbers
	criteria goimap.SearchCriteria
	keys     []sortKey // SORT's order; nil for SEARCH (mailbox order)
	result   []uint32  // UIDs, in the context's order
	modseq   uint64    // the folder's change counter the result is of
}

// addContext keeps the result of the command running (cmd) up to date.
// It answers the refusals RFC 5267 names: BAD for a tag already in use
// by a context (returned), an untagged NO [NOUPDATE] past the limit
// (written; the command still answers its other options).
func (c *conn) addContext(cmd *command, uid bool, criteria goimap.SearchCriteria, keys []sortKey, found []*candidate) error {
	v := c.sess.sel
	if v.findContext(cmd.tag) >= 0 {
		return fmt.Errorf("tag %q already names a search context; use a new tag, or CANCELUPDATE it first", cmd.tag)
	}
	if len(v.contexts) >= maxSearchContexts {
		return c.write(`* NO [NOUPDATE "` + cmd.tag + `"] Too many search contexts (` + utoa(maxSearchContexts) +
			`); CANCELUPDATE one first`)
	}
	ms, err := c.sess.store().ModSeq(c.sess.account, v.name)
	if err != nil {
		return c.write(`* NO [NOUPDATE "` + cmd.tag + `"] Cannot watch this mailbox`)
	}
	sc := &searchContext{tag: cmd.tag, uid: uid, criteria: criteria, keys: keys, modseq: ms}
	for _, m := range found {
		sc.result = append(sc.result, m.uid)
	}
	v.contexts = append(v.contexts, sc)
	return nil
}

// findContext returns the index of the context named tag, or -1.
func (v *view) findContext(tag string) int {
	return slices.IndexFunc(v.contexts, func(sc *searchContext) bool { return sc.tag == tag })
}

// cmdCancelUpdate ends the contexts named by the tags given (RFC 5267
// §4.3.5). An unknown tag changes nothing and gets NO.
func (c *conn) cmdCancelUpdate(cmd *command) error {
	c.srv.metrics.commands.WithLabelValues("CANCELUPDATE").Inc()
	args := cmd.args()
	var tags []string
	for !args.end() {
		if err := args.sp(); err != nil {
			return c.write(cmd.tag + " BAD CANCELUPDATE takes the quoted tags of searches made with RETURN (UPDATE)")
		}
		tag, err := args.astring()
		if err != nil {
			return c.bad(cmd, err)
		}
		tags = append(tags, tag)
	}
	if len(tags) == 0 {
		return c.write(cmd.tag + ` BAD CANCELUPDATE needs at least one tag, such as CANCELUPDATE "A1"`)
	}
	v := c.sess.sel
	for _, t := range tags {
		if v.findContext(t) < 0 {
			return c.finish(cmd, &goimap.Error{Type: goimap.StatusResponseTypeNo, Code: goimap.ResponseCodeNonExistent,
				Text: "No search context has the tag " + strings.ReplaceAll(t, `"`, "") + "; nothing cancelled"}, "")
		}
	}
	for _, t := range tags {
		i := v.findContext(t)
		v.contexts = slices.Delete(v.contexts, i, i+1)
	}
	return c.finish(cmd, nil, "CANCELUPDATE completed")
}

// contextsExpunging tells every context that the messages uids (still
// in the view) are about to be reported expunged: REMOVEFROM must come
// before the EXPUNGE responses, while the sequence numbers still hold
// (RFC 5267 §4.3.4).
func (s *session) contextsExpunging(uids []uint32, write func(string) error) error {
	v := s.sel
	if v == nil || len(v.contexts) == 0 || len(uids) == 0 {
		return nil
	}
	gone := make(map[uint32]bool, len(uids))
	for _, u := range uids {
		gone[u] = true
	}
	for _, sc := range v.contexts {
		keep := slices.DeleteFunc(slices.Clone(sc.result), func(u uint32) bool { return gone[u] })
		if err := v.sendDiff(sc, keep, write); err != nil {
			return err
		}
	}
	return nil
}

// updateContexts runs every context whose folder changed again and
// tells the client the difference. It runs after the view has taken in
// the change (EXISTS written), so new sequence numbers are valid.
func (s *session) updateContexts(write func(string) error) error {
	v := s.sel
	if v == nil || len(v.contexts) == 0 {
		return nil
	}
	ms, err := s.store().ModSeq(s.account, v.name)
	if err != nil {
		return nil // a folder deleted under us just stops changing
	}
	for _, sc := range v.contexts {
		if sc.modseq == ms {
			continue
		}
		found, err := s.find(&sc.criteria)
		if err != nil {
			return nil // the client left (abandoned) or the folder is gone
		}
		if sc.keys != nil {
			found = sortFound(found, sc.keys)
		}
		next := make([]uint32, len(found))
		for i, m := range found {
			next[i] = m.uid
		}
		sc.modseq = ms
		if err := v.sendDiff(sc, next, write); err != nil {
			return err
		}
	}
	return nil
}

// sendDiff writes what turns the context's result into next, and keeps
// next. A SEARCH context uses context position 0 (the client keeps
// mailbox order); a SORT context names positions, removals from the
// last one up so that each position holds when it is applied, then
// insertions from the first one down (RFC 5267 §4.3.3, §4.3.4).
func (v *view) sendDiff(sc *searchContext, next []uint32, write func(string) error) error {
	old := sc.result
	sc.result = next
	var items string
	if sc.keys == nil {
		items = v.diffSearch(sc, old, next)
	} else {
		items = v.diffSort(sc, old, next)
	}
	if items == "" {
		return nil
	}
	line := `* ESEARCH (TAG "` + sc.tag + `")`
	if sc.uid {
		line += " UID"
	}
	return write(line + items)
}

// diffSearch is the REMOVEFROM and ADDTO of a SEARCH context.
func (v *view) diffSearch(sc *searchContext, old, next []uint32) string {
	removed, added := minus(old, next), minus(next, old)
	var items string
	if len(removed) > 0 {
		items += " REMOVEFROM (0 " + orderedSet(v.numbers(sc, removed, true)) + ")"
	}
	if len(added) > 0 {
		items += " ADDTO (0 " + orderedSet(v.numbers(sc, added, true)) + ")"
	}
	return items
}

// diffSort is the REMOVEFROM and ADDTO of a SORT context. The messages
// that stay keep their order (sort keys do not change; ties go by
// sequence number, whose order never changes), so removals then
// insertions reach next; should they not, all is removed and re-added.
func (v *view) diffSort(sc *searchContext, old, next []uint32) string {
	inNext := setOf(next)
	var kept []uint32
	for _, u := range old {
		if inNext[u] {
			kept = append(kept, u)
		}
	}
	if !isSubsequence(kept, next) {
		kept = nil
	}
	inKept := setOf(kept)
	items := ""
	for _, run := range slices.Backward(runsOf(old, func(u uint32) bool { return !inKept[u] })) {
		items += " REMOVEFROM (" + utoa(uint32(run.pos)) + " " + orderedSet(v.numbers(sc, run.uids, false)) + ")"
	}
	for _, run := range runsOf(next, func(u uint32) bool { return !inKept[u] }) {
		items += " ADDTO (" + utoa(uint32(run.pos)) + " " + orderedSet(v.numbers(sc, run.uids, false)) + ")"
	}
	return items
}

// run is a stretch of consecutive positions (the first is pos, 1-based).
type run struct {
	pos  int
	uids []uint32
}

// runsOf groups the elements of list that pick selects into runs of
// consecutive positions.
func runsOf(list []uint32, pick func(uint32) bool) []run {
	var out []run
	for i, u := range list {
		if !pick(u) {
			continue
		}
		if n := len(out); n > 0 && out[n-1].pos+len(out[n-1].uids) == i+1 {
			out[n-1].uids = append(out[n-1].uids, u)
			continue
		}
		out = append(out, run{pos: i + 1, uids: []uint32{u}})
	}
	return out
}

// numbers writes UIDs as the context reports them: UIDs, or sequence
// numbers of the view (a UID no longer in it is left out). ascending
// sorts them (mailbox order).
func (v *view) numbers(sc *searchContext, uids []uint32, ascending bool) []uint32 {
	out := make([]uint32, 0, len(uids))
	for _, u := range uids {
		if sc.uid {
			out = append(out, u)
			continue
		}
		i := sort.Search(len(v.msgs), func(i int) bool { return v.msgs[i].uid >= u })
		if i < len(v.msgs) && v.msgs[i].uid == u {
			out = append(out, uint32(i+1))
		}
	}
	if ascending {
		slices.Sort(out)
	}
	return out
}

// minus returns the elements of a not in b, in a's order.
func minus(a, b []uint32) []uint32 {
	inB := setOf(b)
	var out []uint32
	for _, u := range a {
		if !inB[u] {
			out = append(out, u)
		}
	}
	return out
}

func setOf(l []uint32) map[uint32]bool {
	m := make(map[uint32]bool, len(l))
	for _, u := range l {
		m[u] = true
	}
	return m
}

// isSubsequence reports whether a's elements appear in b in a's order.
func isSubsequence(a, b []uint32) bool {
	i := 0
	for _, u := range b {
		if i < len(a) && a[i] == u {
			i++
		}
	}
	return i == len(a)
}

// uidsAt returns the UIDs at 1-based sequence numbers of the view.
func (v *view) uidsAt(seqs []int) []uint32 {
	out := make([]uint32, len(seqs))
	for i, n := range seqs {
		out[i] = v.msgs[n-1].uid
	}
	return out
}
