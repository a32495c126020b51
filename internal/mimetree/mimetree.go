// Package mimetree parses a stored message into its tree of MIME parts
// in one pass over its lines, for IMAP's BODYSTRUCTURE, BODY[part],
// BINARY[part] and SEARCH TEXT/BODY (mailbox/imap).
//
// go-message reads a nested part through one multipart reader per level,
// each scanning the bytes below it for its boundary: a message nested
// 8,000 levels deep cost 12.7 s of CPU per FETCH BODYSTRUCTURE. Here
// every line is looked at once, and a line that starts with "--" is
// looked up in a map of the boundaries still open, so the cost is linear
// in the message's size. As Dovecot does, nesting stops at MaxDepth
// levels and the number of parts at MaxParts: a multipart or
// message/rfc822 part past either limit is a leaf, its bytes its body.
package mimetree

import (
	"bufio"
	"bytes"
	"strings"

	gomessage "github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"
)

const (
	// MaxDepth is how many levels of multipart and message/rfc822 are
	// opened (Dovecot's message_max_nested_parts default is 100).
	MaxDepth = 100
	// MaxParts bounds the parts of one message (Dovecot: 10,000); after
	// it, delimiter lines are body text of the last part.
	MaxParts = 10000
)

// Part is one entity of a message: the message itself, a part of a
// multipart, or the message inside a message/rfc822 part. Its bytes are
// Data[Start:End]; the header (with the blank line after it) is
// Data[Start:BodyStart]. As RFC 2046 says, the line break before a
// boundary line belongs to the boundary, not to the part.
type Part struct {
	Header                textproto.Header
	Start, BodyStart, End int
	// Type and Subtype are lower case ("text", "plain"); Params holds
	// the Content-Type parameters with lower-case names.
	Type, Subtype string
	Params        map[string]string
	// Children are the parts of a multipart; Message is the message
	// inside a message/rfc822 (or message/global) part. Both are empty
	// for a leaf, and for a multipart or message that was not opened
	// (Capped): past MaxDepth or MaxParts, or a multipart without a
	// boundary or without parts. Its bytes are then opaque data.
	Children []*Part
	Message  *Part
	Capped   bool
	// bodyLine and endLine count the line breaks before BodyStart and
	// End, so that Lines needs no second look at the bytes (nested
	// message/rfc822 parts would each count their whole body again).
	bodyLine, endLine int
}

// Lines is the number of line breaks in the body (BODYSTRUCTURE's
// body-fld-lines).
func (p *Part) Lines() int { return p.endLine - p.bodyLine }

// Multipart reports whether p was opened as a multipart.
func (p *Part) Multipart() bool { return len(p.Children) > 0 }

// Body returns the part's body bytes out of data (the parsed message).
func (p *Part) Body(data []byte) []byte { return data[p.BodyStart:p.End] }

// MediaType is "type/subtype".
func (p *Part) MediaType() string { return p.Type + "/" + p.Subtype }

// Parse returns the tree of data, a whole message.
func Parse(data []byte) *Part {
	ps := &parser{data: data, open: map[string]int{}}
	return ps.entity(0, "")
}

// parser walks the message's lines once. Each line is read by exactly
// one entity's loop, which stops at a delimiter of any open boundary.
type parser struct {
	data   []byte
	pos    int            // start of the next line to read
	lines  int            // line breaks before pos
	bounds []string       // the boundaries open, outermost first
	open   map[string]int // boundary -> its innermost index in bounds
	parts  int
}

// delim is a boundary line found by next: level is the boundary's index
// in bounds (-1 for none, at the end of the data).
type delim struct {
	level int
	close bool
	at    int // offset of the line
}

// line returns the line at pos (with its line break) without consuming it.
func (ps *parser) line() []byte {
	rest := ps.data[ps.pos:]
	if i := bytes.IndexByte(rest, '\n'); i >= 0 {
		return rest[:i+1]
	}
	return rest
}

// isDelim reports whether line is a delimiter ("--b", "--b--", with
// optional trailing blanks) of an open boundary, the innermost if two
// have the same text.
func (ps *parser) isDelim(line []byte) (level int, close, ok bool) {
	if len(ps.bounds) == 0 || len(line) < 3 || line[0] != '-' || line[1] != '-' {
		return 0, false, false
	}
	text := string(bytes.TrimRight(line[2:], " \t\r\n"))
	level, ok = ps.open[text]
	if c, found := strings.CutSuffix(text, "--"); found {
		if l, cok := ps.open[c]; cok && (!ok || l > level) {
			return l, true, true
		}
	}
	return level, false, ok
}

// next consumes lines up to the next delimiter line of an open boundary
// (left unread) or the end of the data. skip is a boundary level whose
// plain (not closing) delimiters count as body text (past MaxParts).
func (ps *parser) next(skip int) delim {
	for ps.pos < len(ps.data) {
		l := ps.line()
		if level, closing, ok := ps.isDelim(l); ok && (closing || level != skip) {
			return delim{level: level, close: closing, at: ps.pos}
		}
		ps.advance(l)
	}
	return delim{level: -1, at: len(ps.data)}
}

// advance consumes the line l at pos.
func (ps *parser) advance(l []byte) {
	ps.pos += len(l)
	if len(l) > 0 && l[len(l)-1] == '\n' {
		ps.lines++
	}
}

// endBefore is where content that starts at from (after fromLine line
// breaks) ends when next stopped at d: before the line break that
// precedes the delimiter line. It returns the offset and the line
// breaks before it.
func (ps *parser) endBefore(d delim, from, fromLine int) (end, line int) {
	if d.at <= from {
		return from, fromLine
	}
	if d.level < 0 {
		return d.at, ps.lines
	}
	end, line = d.at-1, ps.lines-1 // the '\n' ending the previous line
	if end > from && ps.data[end-1] == '\r' {
		end--
	}
	return end, line
}

func (ps *parser) push(boundary string) {
	ps.bounds = append(ps.bounds, boundary)
	ps.open[boundary] = len(ps.bounds) - 1
}

// pop closes the innermost boundary, uncovering an outer one that has
// the same text.
func (ps *parser) pop() {
	b := ps.bounds[len(ps.bounds)-1]
	ps.bounds = ps.bounds[:len(ps.bounds)-1]
	delete(ps.open, b)
	for i := len(ps.bounds) - 1; i >= 0; i-- {
		if ps.bounds[i] == b {
			ps.open[b] = i
			break
		}
	}
}

// entity parses the entity starting at pos, at depth levels of nesting,
// inside a multipart of subtype parent. It returns when it meets a
// delimiter of an enclosing boundary (left unread) or the end of data.
func (ps *parser) entity(depth int, parent string) *Part {
	ps.parts++
	p := &Part{Start: ps.pos}
	ps.header(p)
	ps.contentType(p, parent)
	switch {
	case p.BodyStart < 0: // a delimiter came before the header's end
		p.BodyStart, p.bodyLine = ps.pos, ps.lines
		p.End, p.endLine = ps.pos, ps.lines
		return p
	case depth >= MaxDepth || ps.parts >= MaxParts || (p.Type == "multipart" && p.Params["boundary"] == ""):
		p.Capped = p.Type == "multipart" || isMessage(p)
	case p.Type == "multipart":
		ps.multipart(p, depth)
		return p
	case isMessage(p):
		p.Message = ps.entity(depth+1, "")
		p.End, p.endLine = p.Message.End, p.Message.endLine
		return p
	}
	d := ps.next(-2)
	p.End, p.endLine = ps.endBefore(d, p.BodyStart, p.bodyLine)
	return p
}

func isMessage(p *Part) bool {
	return p.Type == "message" && (p.Subtype == "rfc822" || p.Subtype == "global")
}

// header reads the header lines: up to a blank line (consumed), a line
// that is not a header field (left for the body), or a delimiter (then
// BodyStart is -1). It parses the fields it read.
func (ps *parser) header(p *Part) {
	p.BodyStart = -1
	for ps.pos < len(ps.data) {
		l := ps.line()
		if _, _, ok := ps.isDelim(l); ok {
			break
		}
		if len(bytes.TrimRight(l, "\r\n")) == 0 {
			ps.advance(l)
			p.BodyStart, p.bodyLine = ps.pos, ps.lines
			break
		}
		if !isFieldLine(l, ps.pos > p.Start) {
			p.BodyStart, p.bodyLine = ps.pos, ps.lines
			break
		}
		ps.advance(l)
	}
	if p.BodyStart < 0 && ps.pos == len(ps.data) {
		p.BodyStart, p.bodyLine = ps.pos, ps.lines
	}
	h, _ := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(ps.data[p.Start:ps.pos])))
	p.Header = h
}

// isFieldLine: "Name: value", or a continuation line after the first.
func isFieldLine(l []byte, continued bool) bool {
	if l[0] == ' ' || l[0] == '\t' {
		return continued
	}
	i := bytes.IndexByte(l, ':')
	if i <= 0 {
		return false
	}
	for _, c := range l[:i] {
		if c <= ' ' || c > '~' {
			return c == ' ' || c == '\t' // "Name : value" is seen in the wild
		}
	}
	return true
}

// contentType sets p's media type: text/plain without (or with a broken)
// Content-Type, message/rfc822 inside multipart/digest (RFC 2046 5.1.5).
func (ps *parser) contentType(p *Part, parent string) {
	h := gomessage.Header{Header: p.Header}
	mt, params, err := h.ContentType()
	if !p.Header.Has("Content-Type") || (err != nil && mt == "") {
		mt, params = "text/plain", map[string]string{"charset": "us-ascii"}
		if parent == "digest" {
			mt, params = "message/rfc822", map[string]string{}
		}
	}
	t, sub, _ := strings.Cut(strings.ToLower(mt), "/")
	p.Type, p.Subtype, p.Params = t, sub, params
}

// multipart reads the preamble, the parts and the epilogue of p.
func (ps *parser) multipart(p *Part, depth int) {
	ps.push(p.Params["boundary"])
	level := len(ps.bounds) - 1
	d := ps.next(-2) // the preamble
	for d.level == level && !d.close {
		ps.advance(ps.line())
		if ps.parts >= MaxParts && len(p.Children) > 0 {
			d = ps.next(level) // the rest is the last part's text
			last := p.Children[len(p.Children)-1]
			last.End, last.endLine = ps.endBefore(d, last.BodyStart, last.bodyLine)
			continue
		}
		p.Children = append(p.Children, ps.entity(depth+1, p.Subtype))
		d = ps.next(-2) // where the part stopped
	}
	if d.level == level { // the close delimiter; then the epilogue
		ps.advance(ps.line())
		ps.pop()
		d = ps.next(-2)
	} else {
		ps.pop()
	}
	p.End, p.endLine = ps.endBefore(d, p.BodyStart, p.bodyLine)
	if n := len(p.Children); n > 0 && p.Children[n-1].End > p.End {
		// An empty last part ends where its delimiter line does, after
		// the line break that endBefore takes away.
		p.End, p.endLine = p.Children[n-1].End, p.Children[n-1].endLine
	}
	if len(p.Children) == 0 {
		p.Capped = true // a multipart without parts: its body is text
	}
}
