package imap

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// THREAD (RFC 5256 §4), answered by the front like SORT: ORDEREDSUBJECT
// groups messages by base subject; REFERENCES builds the reply tree
// from Message-ID, References and In-Reply-To, then joins roots that
// share a base subject.

// container is a node of a thread tree; msg is nil for a message that is
// only known from other messages' references (a dummy).
type container struct {
	msg      *threadMsg
	parent   *container
	children []*container
}

// threadMsg is what threading needs of one message.
type threadMsg struct {
	num     uint32 // sequence number or UID, as the reply gives it
	seq     uint32
	date    time.Time
	subject string
	isReply bool
}

func (c *container) add(child *container) {
	child.parent = c
	c.children = append(c.children, child)
}

func (c *container) remove(child *container) {
	c.children = slices.DeleteFunc(c.children, func(x *container) bool { return x == child })
	child.parent = nil
}

// isAncestorOf reports whether c is x or one of x's ancestors.
func (c *container) isAncestorOf(x *container) bool {
	for ; x != nil; x = x.parent {
		if x == c {
			return true
		}
	}
	return false
}

// first is the container's message, or for a dummy its first child's.
func (c *container) first() *threadMsg {
	for c != nil && c.msg == nil {
		if len(c.children) == 0 {
			return nil
		}
		c = c.children[0]
	}
	if c == nil {
		return nil
	}
	return c.msg
}

// byDate orders containers by the sent date of their (first) message,
// then by sequence number.
func byDate(a, b *container) int {
	ma, mb := a.first(), b.first()
	if ma == nil || mb == nil {
		return cmp.Compare(boolInt(ma != nil), boolInt(mb != nil))
	}
	if c := ma.date.Compare(mb.date); c != 0 {
		return c
	}
	return cmp.Compare(ma.seq, mb.seq)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// sortTree sorts every sibling list under the roots by date.
func sortTree(list []*container) {
	for _, c := range list {
		sortTree(c.children)
		slices.SortStableFunc(c.children, byDate)
	}
}

// orderedSubject is THREAD=ORDEREDSUBJECT.
func orderedSubject(msgs []*threadMsg) []*container {
	sorted := slices.Clone(msgs)
	slices.SortStableFunc(sorted, func(a, b *threadMsg) int {
		if c := strings.Compare(strings.ToUpper(a.subject), strings.ToUpper(b.subject)); c != 0 {
			return c
		}
		if c := a.date.Compare(b.date); c != 0 {
			return c
		}
		return cmp.Compare(a.seq, b.seq)
	})
	var roots []*container
	for i, m := range sorted {
		if i > 0 && strings.EqualFold(m.subject, sorted[i-1].subject) {
			roots[len(roots)-1].add(&container{msg: m})
			continue
		}
		roots = append(roots, &container{msg: m})
	}
	slices.SortStableFunc(roots, byDate)
	return roots
}

// writeThreads writes the thread list of a THREAD reply.
func writeThreads(roots []*container) string {
	var b strings.Builder
	for _, r := range roots {
		b.WriteByte('(')
		writeThread(&b, r)
		b.WriteByte(')')
	}
	return b.String()
}

// writeThread writes one node: its number, then a lone child in line
// ("1 2 3") or several children each in parentheses ("1 (2)(3)").
func writeThread(b *strings.Builder, c *container) {
	for c.msg != nil && len(c.children) == 1 {
		b.WriteString(strconv.FormatUint(uint64(c.msg.num), 10))
		b.WriteByte(' ')
		c = c.children[0]
	}
	if c.msg != nil {
		b.WriteString(strconv.FormatUint(uint64(c.msg.num), 10))
		if len(c.children) == 0 {
			return
		}
		b.WriteByte(' ')
	}
	for _, child := range c.children {
		b.WriteByte('(')
		writeThread(b, child)
		b.WriteByte(')')
	}
}

// threadCommand answers THREAD and UID THREAD.
func (f *conn) threadCommand(c *command, uid bool) []string {
	var algorithm string
	found, _, refusal := f.selectMessages(c, uid, func(p *keyParser) error {
		alg, err := p.next()
		algorithm = strings.ToUpper(alg.text)
		if err != nil || alg.paren != 0 || (algorithm != "REFERENCES" && algorithm != "ORDEREDSUBJECT") {
			return fmt.Errorf("unknown algorithm %q; use REFERENCES or ORDEREDSUBJECT", alg.text)
		}
		return nil
	})
	if refusal != "" {
		return []string{refusal}
	}
	var roots []*container
	if algorithm == "ORDEREDSUBJECT" {
		roots = orderedSubject(threadMsgs(found, uid))
	} else {
		roots = references(found, uid)
	}
	line := "* THREAD"
	if len(roots) > 0 {
		line += " " + writeThreads(roots)
	}
	return []string{line, c.tag + " OK " + c.name + " completed"}
}

// threadMsgs reads what threading needs of the found messages.
func threadMsgs(found []*candidate, uid bool) []*threadMsg {
	out := make([]*threadMsg, len(found))
	for i, c := range found {
		m := &threadMsg{num: c.seq, seq: c.seq, date: sentDate(c)}
		if uid {
			m.num = c.uid
		}
		m.subject, m.isReply = baseSubject(fieldValue(c, "Subject"))
		out[i] = m
	}
	return out
}
