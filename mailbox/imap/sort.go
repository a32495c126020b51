package imap

import (
	"cmp"
	"errors"
	"fmt"
	"net/mail"
	"slices"
	"strconv"
	"strings"
	"time"

	goimap "github.com/emersion/go-imap/v2"
)

// SORT (RFC 5256) and SORT=DISPLAY (RFC 5957), answered by the front
// (imapserver has no SORT): the search keys select messages as SEARCH
// does (session.find), then they are ordered by the sort keys, ties by
// sequence number.

// sortKey is one sort criterion.
type sortKey struct {
	name    string // ARRIVAL, CC, DATE, FROM, SIZE, SUBJECT, TO, DISPLAYFROM, DISPLAYTO
	reverse bool
}

var sortKeyNames = []string{"ARRIVAL", "CC", "DATE", "FROM", "SIZE", "SUBJECT", "TO", "DISPLAYFROM", "DISPLAYTO"}

// parseSortKeys reads "(" sort-criterion *(SP sort-criterion) ")".
func parseSortKeys(p *keyParser) ([]sortKey, error) {
	if t, err := p.next(); err != nil || t.paren != '(' {
		return nil, fmt.Errorf("sort criteria in parentheses expected, such as (REVERSE DATE)")
	}
	var keys []sortKey
	reverse := false
	for {
		t, err := p.next()
		if err != nil {
			return nil, fmt.Errorf("missing ')' after the sort criteria")
		}
		name := strings.ToUpper(t.text)
		switch {
		case t.paren == ')' && !reverse && len(keys) > 0:
			return keys, nil
		case t.paren == 0 && !t.str && name == "REVERSE" && !reverse:
			reverse = true
		case t.paren == 0 && !t.str && slices.Contains(sortKeyNames, name):
			keys = append(keys, sortKey{name: name, reverse: reverse})
			reverse = false
		default:
			return nil, fmt.Errorf("unknown sort criterion %q; use ARRIVAL, CC, DATE, FROM, SIZE, SUBJECT, TO, DISPLAYFROM or DISPLAYTO, each optionally after REVERSE", t.text)
		}
	}
}

// checkCharset accepts the charsets SORT, THREAD and SEARCH may name.
func checkCharset(p *keyParser) error {
	t, err := p.next()
	if err != nil || t.paren != 0 {
		return fmt.Errorf("charset expected, such as UTF-8")
	}
	if !strings.EqualFold(t.text, "UTF-8") && !strings.EqualFold(t.text, "US-ASCII") {
		return errBadCharset
	}
	return nil
}

var errBadCharset = fmt.Errorf("[BADCHARSET (US-ASCII UTF-8)] Only US-ASCII and UTF-8 are supported")

// sortValues are the values a message is sorted by, computed once.
type sortValues struct {
	cand    *candidate
	strs    map[string]string
	date    time.Time
	arrival time.Time
	size    int64
}

func valuesOf(c *candidate, keys []sortKey) *sortValues {
	v := &sortValues{cand: c, strs: map[string]string{}, arrival: c.info.InternalDate, size: c.info.Size}
	for _, k := range keys {
		switch k.name {
		case "DATE":
			v.date = sentDate(c)
		case "SUBJECT":
			v.strs[k.name], _ = baseSubject(fieldValue(c, "Subject"))
			v.strs[k.name] = strings.ToUpper(v.strs[k.name])
		case "FROM", "TO", "CC":
			v.strs[k.name] = strings.ToUpper(firstAddress(c, k.name, false))
		case "DISPLAYFROM", "DISPLAYTO":
			v.strs[k.name] = strings.ToLower(firstAddress(c, strings.TrimPrefix(k.name, "DISPLAY"), true))
		}
	}
	return v
}

// compare orders two messages by keys, then by sequence number.
func compareValues(a, b *sortValues, keys []sortKey) int {
	for _, k := range keys {
		var c int
		switch k.name {
		case "ARRIVAL":
			c = a.arrival.Compare(b.arrival)
		case "DATE":
			c = a.date.Compare(b.date)
		case "SIZE":
			c = cmp.Compare(a.size, b.size)
		default:
			c = strings.Compare(a.strs[k.name], b.strs[k.name])
		}
		if k.reverse {
			c = -c
		}
		if c != 0 {
			return c
		}
	}
	return cmp.Compare(a.cand.seq, b.cand.seq)
}

// fieldValue is the first value of a header field, unfolded.
func fieldValue(c *candidate, key string) string {
	return c.fields(key).Get(key)
}

// sentDate is the Date field as UTC, or INTERNALDATE when the field is
// missing or unreadable (RFC 5256 §2.2).
func sentDate(c *candidate) time.Time {
	if d, err := mail.ParseDate(strings.TrimSpace(fieldValue(c, "Date"))); err == nil {
		return d.UTC()
	}
	return c.info.InternalDate.UTC()
}

// firstAddress is the first address of a field: its mailbox part for
// SORT FROM/TO/CC (RFC 5256), or for DISPLAYFROM/DISPLAYTO its display
// name, else the address (RFC 5957). A group counts by its name, as in
// Dovecot.
func firstAddress(c *candidate, field string, display bool) string {
	key := map[string]string{"FROM": "From", "TO": "To", "CC": "Cc"}[field]
	list := parseAddressList([]string{fieldValue(c, key)})
	if len(list) == 0 {
		return ""
	}
	a := list[0]
	switch {
	case !display || a.Host == "":
		return a.Mailbox
	case a.Name != "":
		return a.Name
	}
	return a.Addr()
}

// sortCommand answers SORT and UID SORT, with ESORT's RETURN options
// (RFC 5267) in an ESEARCH reply, PARTIAL, and UPDATE (context.go); with
// the MODSEQ search key, the highest MODSEQ of the messages returned, as
// SEARCH does (RFC 7162 §3.1.5 and its sort-data syntax).
func (f *conn) sortCommand(c *command, uid bool) []string {
	var keys []sortKey
	var ro *returnOpts // nil: a plain SORT reply
	found, criteria, refusal := f.selectMessages(c, uid, func(p *keyParser) (err error) {
		if ro, err = parseReturnOpts(p, "MIN", "MAX", "COUNT", "ALL"); err == nil {
			keys, err = parseSortKeys(p)
		}
		return err
	})
	if refusal != "" {
		return []string{refusal}
	}
	found = sortFound(found, keys)
	nums := make([]uint32, len(found))
	for i, m := range found {
		nums[i] = m.seq
		if uid {
			nums[i] = m.uid
		}
	}
	if ro != nil && ro.update {
		if err := f.addContext(c, uid, criteria, keys, found); err != nil {
			return []string{c.tag + " BAD " + c.name + ": " + err.Error()}
		}
	}
	modseq := f.searchModSeq(&criteria, ro == nil, returned(ro, found))
	if ro != nil {
		return []string{esearchLine(c.tag, uid, ro, nums) + modseq, c.tag + " OK " + c.name + " completed"}
	}
	line := "* SORT"
	for _, n := range nums {
		line += " " + strconv.FormatUint(uint64(n), 10)
	}
	return []string{line + modseq, c.tag + " OK " + c.name + " completed"}
}

// sortFound orders messages by keys, ties by sequence number.
func sortFound(found []*candidate, keys []sortKey) []*candidate {
	vals := make([]*sortValues, len(found))
	for i, m := range found {
		vals[i] = valuesOf(m, keys)
	}
	slices.SortFunc(vals, func(a, b *sortValues) int { return compareValues(a, b, keys) })
	out := make([]*candidate, len(vals))
	for i, v := range vals {
		out[i] = v.cand
	}
	return out
}

// esortLine is the ESEARCH reply of a sort: MIN and MAX are the first
// and last in sort order, ALL the numbers in sort order (RFC 5267 §3.2).
func esortLine(tag string, uid bool, ret []string, nums []uint32) string {
	line := `* ESEARCH (TAG "` + tag + `")`
	if uid {
		line += " UID"
	}
	num := func(n uint32) string { return strconv.FormatUint(uint64(n), 10) }
	for _, opt := range ret {
		switch {
		case opt == "COUNT":
			line += " COUNT " + num(uint32(len(nums)))
		case len(nums) == 0:
		case opt == "MIN":
			line += " MIN " + num(nums[0])
		case opt == "MAX":
			line += " MAX " + num(nums[len(nums)-1])
		case opt == "ALL":
			line += " ALL " + orderedSet(nums)
		}
	}
	return line
}

// orderedSet writes numbers in their order, runs of consecutive
// ascending numbers as ranges ("5,3:4,2,1").
func orderedSet(nums []uint32) string {
	var b strings.Builder
	for i := 0; i < len(nums); {
		j := i
		for j+1 < len(nums) && nums[j+1] == nums[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatUint(uint64(nums[i]), 10))
		if j > i {
			b.WriteString(":" + strconv.FormatUint(uint64(nums[j]), 10))
		}
		i = j + 1
	}
	return b.String()
}

// selectMessages reads the arguments of SORT or THREAD: head reads what
// comes before the charset (sort criteria, algorithm), then the charset
// and search keys; it returns the matching messages or the whole
// tagged refusal.
func (f *conn) selectMessages(c *command, uid bool, head func(*keyParser) error) ([]*candidate, goimap.SearchCriteria, string) {
	var criteria goimap.SearchCriteria
	if f.sess.sel == nil {
		return nil, criteria, c.tag + " BAD No mailbox selected; SELECT one first"
	}
	p, err := newKeyParser(c, uid)
	if err == nil {
		err = head(p)
	}
	if err == nil {
		err = checkCharset(p)
	}
	if err == nil {
		criteria, err = p.all(false)
	}
	if err == errBadCharset {
		return nil, criteria, c.tag + " NO " + err.Error()
	}
	if err != nil {
		return nil, criteria, c.tag + " BAD " + c.name + ": " + err.Error()
	}
	found, err := f.sess.find(&criteria)
	if err != nil {
		return nil, criteria, c.tag + " " + imapErrorLine(err)
	}
	return found, criteria, ""
}

// newKeyParser tokenizes the arguments of a command the front answers in
// the selected state ("UID" adds a word).
func newKeyParser(c *command, uid bool) (*keyParser, error) {
	skip := 1
	if uid {
		skip = 2
	}
	toks, err := c.tokens(skip)
	if err != nil {
		return nil, err
	}
	return &keyParser{toks: toks}, nil
}

// imapErrorLine writes an error of session.imapError as the status part
// of a tagged reply ("NO [CODE] text").
func imapErrorLine(err error) string {
	var ie *goimap.Error
	if !errors.As(err, &ie) {
		return "NO [SERVERBUG] Internal error; try again later"
	}
	line := string(ie.Type)
	if ie.Code != "" {
		line += " [" + string(ie.Code) + "]"
	}
	return line + " " + ie.Text
}
