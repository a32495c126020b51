package imap

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// RETURN options of SEARCH and SORT (RFC 4731 ESEARCH, RFC 5267 ESORT and
// CONTEXT, RFC 9394 PARTIAL) and the ESEARCH reply that answers them.

// returnOpts is what a RETURN (...) list asked for.
type returnOpts struct {
	items   []string      // MIN MAX COUNT ALL SAVE, in the client's order
	update  bool          // UPDATE: keep the result up to date (context.go)
	partial *partialRange // PARTIAL n:m
}

// partialRange is PARTIAL's range of result positions: 1 is the first
// result and -1 the last (RFC 9394). It is kept with the smaller
// distance from its end first (2:4, -1:-100), as it is echoed.
type partialRange struct{ first, last int64 }

// parseReturnOpts reads an optional RETURN list; allowed are the plain
// options the command takes besides CONTEXT, UPDATE and PARTIAL. It
// returns nil without RETURN. RETURN () and RETURN (CONTEXT) mean ALL;
// RETURN (UPDATE) alone asks for no result data.
func parseReturnOpts(p *keyParser, allowed ...string) (*returnOpts, error) {
	if p.pos >= len(p.toks) || p.toks[p.pos].str || !strings.EqualFold(p.toks[p.pos].text, "RETURN") {
		return nil, nil
	}
	p.pos++
	if t, err := p.next(); err != nil || t.paren != '(' {
		return nil, fmt.Errorf("RETURN needs a list of options, such as RETURN (MIN COUNT)")
	}
	ro := &returnOpts{items: []string{}}
	for {
		t, err := p.next()
		if err != nil {
			return nil, fmt.Errorf("missing ')' after the RETURN options")
		}
		if t.paren == ')' {
			break
		}
		if err := ro.option(p, t, allowed); err != nil {
			return nil, err
		}
	}
	if ro.partial != nil && slices.Contains(ro.items, "ALL") {
		return nil, fmt.Errorf("RETURN may hold PARTIAL or ALL, not both")
	}
	if len(ro.items) == 0 && ro.partial == nil && !ro.update {
		ro.items = append(ro.items, "ALL")
	}
	return ro, nil
}

// option reads one RETURN option (t) and PARTIAL's argument.
func (ro *returnOpts) option(p *keyParser, t token, allowed []string) error {
	opt := strings.ToUpper(t.text)
	switch {
	case t.paren != 0 || t.str:
		return fmt.Errorf("RETURN options are atoms such as MIN or COUNT")
	case opt == "CONTEXT": // a hint only (RFC 5267 §4.2)
	case opt == "UPDATE":
		if ro.update {
			return fmt.Errorf("UPDATE given twice in RETURN")
		}
		ro.update = true
	case opt == "PARTIAL":
		if ro.partial != nil {
			return fmt.Errorf("PARTIAL given twice in RETURN")
		}
		arg, err := p.next()
		if err != nil || arg.paren != 0 || arg.str {
			return fmt.Errorf("PARTIAL needs a range such as 1:100 or -1:-100")
		}
		ro.partial, err = parsePartialRange(arg.text)
		return err
	case slices.Contains(allowed, opt):
		ro.items = append(ro.items, opt)
	default:
		return fmt.Errorf("unknown RETURN option %q; use %s, PARTIAL, UPDATE or CONTEXT", t.text, strings.Join(allowed, ", "))
	}
	return nil
}

// partialModifier reads UID FETCH's SP partial-range after PARTIAL.
func (req *fetchRequest) partialModifier(args *argReader, uid bool) error {
	switch {
	case !uid:
		return fmt.Errorf("PARTIAL is a modifier of UID FETCH only (RFC 9394)")
	case req.partial != nil:
		return fmt.Errorf("PARTIAL given twice")
	}
	w := ""
	if args.sp() == nil {
		w, _ = args.word()
	}
	r, err := parsePartialRange(w)
	req.partial = r
	return err
}

// parsePartialRange reads n:m or -n:-m (no 0, no "*", both of one sign).
func parsePartialRange(s string) (*partialRange, error) {
	bad := fmt.Errorf("PARTIAL range %q is not valid; write two numbers of the same sign such as 1:100 or -1:-100 (no 0, no *)", s)
	a, b, ok := strings.Cut(s, ":")
	if !ok {
		return nil, bad
	}
	first, err1 := partialNum(a)
	last, err2 := partialNum(b)
	if err1 != nil || err2 != nil || (first < 0) != (last < 0) {
		return nil, bad
	}
	if abs(first) > abs(last) {
		first, last = last, first
	}
	return &partialRange{first, last}, nil
}

// partialNum reads a non-zero number that fits in 32 bits, maybe negative.
func partialNum(s string) (int64, error) {
	neg := strings.HasPrefix(s, "-")
	digits := strings.TrimPrefix(s, "-")
	if digits == "" || digits[0] < '1' || digits[0] > '9' {
		return 0, fmt.Errorf("bad number")
	}
	n, err := strconv.ParseUint(digits, 10, 32)
	if err != nil {
		return 0, err
	}
	if neg {
		return -int64(n), nil
	}
	return int64(n), nil
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}

func (r *partialRange) String() string {
	return strconv.FormatInt(r.first, 10) + ":" + strconv.FormatInt(r.last, 10)
}

// pickRange returns the results (in their order) at r's positions.
func pickRange[T any](r *partialRange, results []T) []T {
	n := int64(len(results))
	lo, hi := r.first, r.last // 1-based positions
	if lo < 0 {
		lo, hi = n+1+r.last, n+1+r.first
	}
	lo, hi = max(lo, 1), min(hi, n)
	if lo > hi {
		return nil
	}
	return results[lo-1 : hi]
}

// returned are the results a reply with these RETURN options shows, in
// their order (mailbox order for SEARCH, sort order for SORT): all of
// them for a plain reply (ro nil), ALL, COUNT and SAVE alone, else those
// of MIN, MAX and PARTIAL. RETURN (SAVE) keeps these (RFC 5182 §2.4, RFC 9394 §3.2:
// with COUNT or ALL, every result), and a MODSEQ search reports the
// highest MODSEQ among them (RFC 7162 §3.1.5).
func returned[T any](ro *returnOpts, results []T) []T {
	if ro == nil || slices.Contains(ro.items, "ALL") || slices.Contains(ro.items, "COUNT") || len(results) == 0 {
		return results
	}
	first, last := slices.Contains(ro.items, "MIN"), slices.Contains(ro.items, "MAX")
	switch {
	case first || last || ro.partial != nil:
	case slices.Contains(ro.items, "SAVE"):
		return results // SAVE alone keeps them all
	default:
		return nil // RETURN (UPDATE): no result data yet
	}
	var out []T
	if first {
		out = append(out, results[0])
	}
	if ro.partial != nil {
		out = append(out, pickRange(ro.partial, results)...)
	}
	if last {
		out = append(out, results[len(results)-1])
	}
	return out
}

// esearchLine is the ESEARCH reply of a SEARCH or SORT with RETURN:
// nums are the results in their order (mailbox order for SEARCH).
func esearchLine(tag string, uid bool, ro *returnOpts, nums []uint32) string {
	line := esortLine(tag, uid, ro.items, nums)
	if ro.partial == nil {
		return line
	}
	set := "NIL"
	if picked := pickRange(ro.partial, nums); len(picked) > 0 {
		set = orderedSet(picked)
	}
	return line + " PARTIAL (" + ro.partial.String() + " " + set + ")"
}
