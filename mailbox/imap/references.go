package imap

import (
	"slices"
	"strconv"
	"strings"
)

// THREAD=REFERENCES, RFC 5256 §4 steps (1) to (5).

// msgIDs returns the message IDs ("<...>") in a header value, in order.
func msgIDs(v string) []string {
	var out []string
	for {
		i := strings.IndexByte(v, '<')
		if i < 0 {
			return out
		}
		j := strings.IndexAny(v[i+1:], "<>")
		if j < 0 {
			return out
		}
		if v[i+1+j] == '>' && j > 0 {
			out = append(out, v[i:i+j+2])
		}
		v = v[i+1+j:]
	}
}

// references is THREAD=REFERENCES over the found messages.
func references(found []*candidate, uid bool) []*container {
	msgs := threadMsgs(found, uid)
	byID := map[string]*container{}
	get := func(id string) *container {
		c := byID[id]
		if c == nil {
			c = &container{}
			byID[id] = c
		}
		return c
	}
	all := make([]*container, len(found))
	for i, cand := range found {
		ids := msgIDs(fieldValue(cand, "Message-ID"))
		var self *container
		if len(ids) > 0 && (byID[ids[0]] == nil || byID[ids[0]].msg == nil) {
			self = get(ids[0])
		} else { // no or duplicate Message-ID: a unique one
			self = get("\x00" + strconv.Itoa(i))
		}
		self.msg = msgs[i]
		all[i] = self
		refs := msgIDs(fieldValue(cand, "References"))
		if len(refs) == 0 {
			if irt := msgIDs(fieldValue(cand, "In-Reply-To")); len(irt) > 0 {
				refs = irt[:1]
			}
		}
		linkReferences(self, refs, get)
	}
	var roots []*container
	for _, c := range byID {
		if c.parent == nil {
			roots = append(roots, c)
		}
	}
	roots = prune(roots, true)
	sortTree(roots)
	slices.SortStableFunc(roots, byDate)
	roots = joinBySubject(roots)
	sortTree(roots)
	slices.SortStableFunc(roots, byDate)
	return roots
}

// linkReferences is step (1)(A): each reference is the parent of the
// next, where no link exists yet and no loop results, and the last is
// the message's parent (replacing any parent it had).
func linkReferences(self *container, refs []string, get func(string) *container) {
	var prev *container
	for _, id := range refs {
		c := get(id)
		if prev != nil && c.parent == nil && !c.isAncestorOf(prev) {
			prev.add(c)
		}
		prev = c
	}
	if self.parent != nil {
		self.parent.remove(self)
	}
	if prev != nil && !self.isAncestorOf(prev) {
		prev.add(self)
	}
}

// prune is step (1)(C): dummies without children go, and a dummy's
// children take its place unless it is a root with several children.
func prune(list []*container, root bool) []*container {
	var out []*container
	for _, c := range list {
		c.children = prune(c.children, false)
		switch {
		case c.msg == nil && len(c.children) == 0:
		case c.msg == nil && (!root || len(c.children) == 1):
			for _, child := range c.children {
				child.parent = c.parent
				out = append(out, child)
			}
		default:
			out = append(out, c)
		}
	}
	return out
}

// joinBySubject is step (2): roots with the same base subject are put
// together, under a dummy or under the one that is not a reply.
func joinBySubject(roots []*container) []*container {
	table := map[string]*container{}
	for _, r := range roots {
		subj := rootSubject(r)
		if subj == "" {
			continue
		}
		t := table[subj]
		if t == nil || (t.msg != nil && r.msg == nil) || (t.msg != nil && r.msg != nil && t.msg.isReply && !r.msg.isReply) {
			table[subj] = r
		}
	}
	var out []*container
	for _, r := range roots {
		subj := rootSubject(r)
		t := table[subj]
		if subj == "" || t == r {
			out = append(out, r)
			continue
		}
		switch {
		case t.msg == nil && r.msg == nil:
			for _, child := range r.children {
				t.add(child)
			}
		case t.msg == nil:
			t.add(r)
		case r.msg.isReply && !t.msg.isReply:
			t.add(r)
		default:
			// A new dummy holds both, where t was.
			d := &container{}
			*d, *t = *t, container{children: []*container{}}
			for _, child := range d.children {
				child.parent = d
			}
			t.add(d)
			t.add(r)
		}
	}
	return out
}

// rootSubject is the base subject of a root's (first) message.
func rootSubject(c *container) string {
	if m := c.first(); m != nil {
		return strings.ToUpper(m.subject)
	}
	return ""
}
