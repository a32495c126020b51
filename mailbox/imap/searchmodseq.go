package imap

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	goimap "github.com/emersion/go-imap/v2"
)

// SEARCH's MODSEQ key and the MODSEQ of its reply (RFC 7162 §3.1.5).

// modseqKey reads what follows MODSEQ: [entry-name SP entry-type-req SP]
// mod-sequence-valzer. Every flag's MODSEQ is the message's here (the
// store keeps one per message), so the entry is checked and not used.
func (p *keyParser) modseqKey() (goimap.SearchCriteria, error) {
	var c goimap.SearchCriteria
	t, err := p.next()
	if err == nil && t.str {
		if !strings.HasPrefix(strings.ToLower(t.text), "/flags/") {
			return c, fmt.Errorf("MODSEQ entry %q: entries name flags, as \"/flags/\\\\seen\"", t.text)
		}
		typ, err := p.value("MODSEQ")
		if err != nil || !slices.Contains([]string{"priv", "shared", "all"}, strings.ToLower(typ)) {
			return c, fmt.Errorf("MODSEQ entry type is priv, shared or all, not %q", typ)
		}
		t, err = p.next()
	}
	if err != nil || t.paren != 0 || t.str {
		return c, fmt.Errorf("MODSEQ needs a mod-sequence, a number such as 12345")
	}
	n, err := strconv.ParseUint(t.text, 10, 63)
	if err != nil || t.text[0] == '+' {
		return c, fmt.Errorf("MODSEQ needs a mod-sequence, a number from 0 to 9223372036854775807, not %q", t.text)
	}
	c.ModSeq = &goimap.SearchCriteriaModSeq{ModSeq: n}
	return c, nil
}

// andModSeq adds k's MODSEQ key to c, which goimap's And leaves out: a
// message must be at or above both.
func andModSeq(c, k *goimap.SearchCriteria) {
	if k.ModSeq != nil && (c.ModSeq == nil || k.ModSeq.ModSeq > c.ModSeq.ModSeq) {
		c.ModSeq = k.ModSeq
	}
}

// hasModSeq reports whether criteria use the MODSEQ key anywhere.
func hasModSeq(c *goimap.SearchCriteria) bool {
	if c.ModSeq != nil {
		return true
	}
	for i := range c.Not {
		if hasModSeq(&c.Not[i]) {
			return true
		}
	}
	for i := range c.Or {
		if hasModSeq(&c.Or[i][0]) || hasModSeq(&c.Or[i][1]) {
			return true
		}
	}
	return false
}

// searchModSeq is what a SEARCH or SORT with the MODSEQ key adds to its
// reply: " (MODSEQ n)" after a plain SEARCH or SORT reply's numbers,
// " MODSEQ n" in ESEARCH, n being the highest MODSEQ of the messages the
// reply returns (partial.go's returned). Nothing when it returns none.
// The key enables CONDSTORE.
func (c *conn) searchModSeq(criteria *goimap.SearchCriteria, plain bool, got []*candidate) string {
	if !hasModSeq(criteria) {
		return ""
	}
	c.enableCondstore()
	var n uint64
	for _, m := range got {
		n = max(n, m.info.ModSeq)
	}
	switch {
	case n == 0:
		return ""
	case plain:
		return " (MODSEQ " + strconv.FormatUint(n, 10) + ")"
	}
	return " MODSEQ " + strconv.FormatUint(n, 10)
}
