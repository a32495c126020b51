package imap

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"time"

	goimap "github.com/emersion/go-imap/v2"
	gomessage "github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"

	"mailgate/internal/mimetree"
	"mailgate/mailbox"
)

// candidate is one message being matched; its header and bytes are
// read only when a criterion needs them, and then only once.
type candidate struct {
	seq, uid uint32
	info     *mailbox.MessageInfo
	load     func() []byte
	loadHead func() []byte
	raw      []byte
	read     bool
	head     []byte
	headRead bool
	root     *mimetree.Part
}

func (c *candidate) bytes() []byte {
	if !c.read {
		c.raw, c.read = c.load(), true
	}
	return c.raw
}

// tree is the message's MIME structure, parsed once (mime.go).
func (c *candidate) tree() *mimetree.Part {
	if c.root == nil {
		c.root = mimetree.Parse(c.bytes())
	}
	return c.root
}

// matchText is SEARCH TEXT (withHeader) or BODY.
func (c *candidate) matchText(text string, withHeader bool) bool {
	return text == "" || matchText(c.bytes(), c.tree(), bytes.ToLower([]byte(text)), withHeader)
}

// fields returns the header fields named key, from the store's header
// cache, for HEADER, FROM, SUBJECT, SENTSINCE and the like: most
// searches never open a message file. Only the lines of those fields
// are parsed (with their continuation lines), not the whole header.
func (c *candidate) fields(key string) *mail.Header {
	if !c.headRead {
		c.head, c.headRead = c.loadHead(), true
	}
	raw := fieldLines(c.head, key)
	if len(raw) == 0 {
		return &mail.Header{}
	}
	// A small buffer: the default 4 KB one per call was most of SEARCH's
	// allocations. Longer lines still parse (the reader grows them).
	h, _ := textproto.ReadHeader(bufio.NewReaderSize(bytes.NewReader(append(raw, '\r', '\n')), 256))
	return &mail.Header{Header: gomessage.Header{Header: h}}
}

// matchHeader is SEARCH HEADER key pattern. Fields without encoded
// words ("=?") are matched on their unfolded raw value, which is what
// decoding would give; others go through go-message's decoder.
func (c *candidate) matchHeader(key, pattern string) bool {
	if !c.headRead {
		c.head, c.headRead = c.loadHead(), true
	}
	raw := fieldLines(c.head, key)
	if len(raw) == 0 || bytes.Contains(raw, []byte("=?")) {
		return matchFields(c.fields(key).FieldsByKey(key), pattern)
	}
	if pattern == "" {
		return true
	}
	want := []byte(strings.ToLower(pattern))
	var value []byte
	for len(raw) > 0 {
		n := bytes.IndexByte(raw, '\n') + 1
		if n == 0 {
			n = len(raw)
		}
		line := bytes.TrimRight(raw[:n], "\r\n")
		raw = raw[n:]
		if len(line) > 0 && (line[0] == ' ' || line[0] == '\t') {
			value = append(value, line...) // unfolding drops only the line break
		} else {
			if bytes.Contains(bytes.ToLower(value), want) {
				return true
			}
			value = append(value[:0], line[bytes.IndexByte(line, ':')+1:]...)
		}
	}
	return bytes.Contains(bytes.ToLower(value), want)
}

// fieldLines returns the raw lines of the fields named key (any letter
// case) in a header section, continuation lines included.
func fieldLines(head []byte, key string) []byte {
	var out []byte
	in := false
	for len(head) > 0 {
		n := bytes.IndexByte(head, '\n') + 1
		if n == 0 {
			n = len(head)
		}
		line := head[:n]
		head = head[n:]
		switch {
		case len(line) > 0 && (line[0] == ' ' || line[0] == '\t'):
			// a continuation belongs to the field before it
		case isField(line, key):
			in = true
		default:
			in = false
		}
		if in {
			out = append(out, line...)
		}
	}
	return out
}

// isField reports whether line starts the field key: the name in any
// letter case, then optional blanks and a colon.
func isField(line []byte, key string) bool {
	if len(line) <= len(key) || !bytes.EqualFold(line[:len(key)], []byte(key)) {
		return false
	}
	rest := bytes.TrimLeft(line[len(key):], " \t")
	return len(rest) > 0 && rest[0] == ':'
}

// find returns the selected folder's messages that match criteria, in
// sequence order (SEARCH, and SORT and THREAD in the front).
func (s *session) find(criteria *goimap.SearchCriteria) ([]*candidate, error) {
	v := s.sel
	snap, err := s.store().Messages(s.account, v.name)
	if err != nil {
		return nil, s.imapError(err)
	}
	infos := make(map[uint32]*mailbox.MessageInfo, len(snap.Messages))
	for i := range snap.Messages {
		infos[snap.Messages[i].UID] = &snap.Messages[i]
	}
	c := v.staticCriteria(*criteria)
	var found []*candidate
	s.startLong()
	for i, vm := range v.msgs {
		if s.abandoned("SEARCH") {
			return nil, errAbandoned
		}
		info := infos[vm.uid]
		if vm.gone || info == nil {
			continue
		}
		if v.recent[vm.uid] {
			withRecent := *info
			withRecent.Flags = v.withRecent(vm.uid, info.Flags)
			info = &withRecent
		}
		cand := &candidate{seq: uint32(i + 1), uid: vm.uid, info: info, load: s.loader(vm.uid), loadHead: s.headLoader(vm.uid)}
		if match(cand, &c) {
			found = append(found, cand)
		}
	}
	return found, nil
}

// loader reads one message whole (search needs headers and bodies).
func (s *session) loader(uid uint32) func() []byte {
	return func() []byte {
		f, _, err := s.store().OpenMessage(s.account, s.sel.name, uid)
		if err != nil {
			return nil
		}
		defer f.Close()
		b, _ := io.ReadAll(f)
		return b
	}
}

// headLoader reads one message's header section through the store's cache.
func (s *session) headLoader(uid uint32) func() []byte {
	return func() []byte {
		h, _ := s.store().Header(s.account, s.sel.name, uid)
		return h
	}
}

// staticCriteria resolves "*" and "$" in the criteria's sets.
func (v *view) staticCriteria(c goimap.SearchCriteria) goimap.SearchCriteria {
	maxUID := v.uidNext - 1
	if n := len(v.msgs); n > 0 {
		maxUID = v.msgs[n-1].uid
	}
	seq := make([]goimap.SeqSet, len(c.SeqNum))
	for i, set := range c.SeqNum {
		seq[i] = staticSeq(set, uint32(len(v.msgs)))
	}
	uid := make([]goimap.UIDSet, len(c.UID))
	for i, set := range c.UID {
		if goimap.IsSearchRes(set) {
			set = v.searchRes
		}
		uid[i] = staticUID(set, maxUID)
	}
	c.SeqNum, c.UID = seq, uid
	c.Not = append([]goimap.SearchCriteria(nil), c.Not...)
	for i := range c.Not {
		c.Not[i] = v.staticCriteria(c.Not[i])
	}
	c.Or = append([][2]goimap.SearchCriteria(nil), c.Or...)
	for i := range c.Or {
		c.Or[i] = [2]goimap.SearchCriteria{v.staticCriteria(c.Or[i][0]), v.staticCriteria(c.Or[i][1])}
	}
	return c
}

// match applies every criterion (RFC 9051 6.4.4); all must hold.
func match(m *candidate, c *goimap.SearchCriteria) bool {
	return matchMeta(m, c) && matchContent(m, c) && matchLogic(m, c)
}

func matchMeta(m *candidate, c *goimap.SearchCriteria) bool {
	for _, set := range c.SeqNum {
		if !set.Contains(m.seq) {
			return false
		}
	}
	for _, set := range c.UID {
		if !set.Contains(goimap.UID(m.info.UID)) {
			return false
		}
	}
	if !matchDate(m.info.InternalDate, c.Since, c.Before) {
		return false
	}
	for _, f := range c.Flag {
		if !hasFlag(m.info.Flags, string(f)) {
			return false
		}
	}
	for _, f := range c.NotFlag {
		if hasFlag(m.info.Flags, string(f)) {
			return false
		}
	}
	if c.ModSeq != nil && m.info.ModSeq < c.ModSeq.ModSeq {
		return false
	}
	if c.Larger != 0 && m.info.Size <= c.Larger {
		return false
	}
	return c.Smaller == 0 || m.info.Size < c.Smaller
}

func matchContent(m *candidate, c *goimap.SearchCriteria) bool {
	for _, hc := range c.Header {
		if !m.matchHeader(hc.Key, hc.Value) && !m.matchAddresses(hc.Key, hc.Value) {
			return false
		}
	}
	if !c.SentSince.IsZero() || !c.SentBefore.IsZero() {
		t, err := m.fields("Date").Date()
		if err != nil || !matchDate(t, c.SentSince, c.SentBefore) {
			return false
		}
	}
	for _, text := range c.Text {
		if !m.matchText(text, true) {
			return false
		}
	}
	for _, text := range c.Body {
		if !m.matchText(text, false) {
			return false
		}
	}
	return true
}

func matchLogic(m *candidate, c *goimap.SearchCriteria) bool {
	for i := range c.Not {
		if match(m, &c.Not[i]) {
			return false
		}
	}
	for i := range c.Or {
		if !match(m, &c.Or[i][0]) && !match(m, &c.Or[i][1]) {
			return false
		}
	}
	return true
}

// matchDate compares calendar dates only, ignoring the time zone, as
// RFC 9051 requires.
func matchDate(t, since, before time.Time) bool {
	d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	if !since.IsZero() && d.Before(since) {
		return false
	}
	return before.IsZero() || d.Before(before)
}

func matchFields(fields gomessage.HeaderFields, pattern string) bool {
	if pattern == "" {
		return fields.Len() > 0
	}
	pattern = strings.ToLower(pattern)
	for fields.Next() {
		v, err := fields.Text()
		if err != nil {
			v = fields.Value()
		}
		if strings.Contains(strings.ToLower(v), pattern) {
			return true
		}
	}
	return false
}
