// Package sieve is the Sieve mail filtering language (RFC 5228) and the
// extensions mailgate offers: Parse turns a script into a checked
// program, reporting errors with line and column, and Run evaluates it
// against one message, returning the actions to take. Carrying out the
// actions (filing, forwarding, answering) is left to the caller: local
// delivery (sieve.Deliverer) and the CLI's dry run.
package sieve

import (
	"fmt"
	"strconv"
	"strings"
)

// Pos is a place in a script, 1-based.
type Pos struct{ Line, Col int }

func (p Pos) String() string { return fmt.Sprintf("%d:%d", p.Line, p.Col) }

// Error is a script error found by Parse, at a line and column.
type Error struct {
	Pos Pos
	Msg string
}

func (e *Error) Error() string {
	return fmt.Sprintf("line %d, column %d: %s", e.Pos.Line, e.Pos.Col, e.Msg)
}

func errorf(p Pos, format string, args ...any) *Error {
	return &Error{Pos: p, Msg: fmt.Sprintf(format, args...)}
}

type tokKind int

const (
	tEOF tokKind = iota
	tIdent
	tTag
	tNumber
	tString
	tPunct // one of ; , ( ) [ ] { }
)

type token struct {
	kind tokKind
	pos  Pos
	text string // identifier, tag name without ':', string value, punctuation
	num  int64
}

func (t token) describe() string {
	switch t.kind {
	case tEOF:
		return "the end of the script"
	case tIdent:
		return fmt.Sprintf("%q", t.text)
	case tTag:
		return fmt.Sprintf("tag :%s", t.text)
	case tNumber:
		return fmt.Sprintf("number %d", t.num)
	case tString:
		return "a string"
	}
	return fmt.Sprintf("%q", t.text)
}

// lexer splits a script into tokens, tracking line and column.
type lexer struct {
	src       string
	off       int
	line, col int
}

func (l *lexer) pos() Pos { return Pos{l.line, l.col} }

func (l *lexer) advance(n int) {
	for i := 0; i < n && l.off < len(l.src); i++ {
		if l.src[l.off] == '\n' {
			l.line++
			l.col = 1
		} else if l.src[l.off]&0xC0 != 0x80 {
			l.col++
		}
		l.off++
	}
}

func (l *lexer) rest() string { return l.src[l.off:] }

// skip passes white space and comments.
func (l *lexer) skip() *Error {
	for l.off < len(l.src) {
		c := l.src[l.off]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			l.advance(1)
		case c == '#':
			i := strings.IndexByte(l.rest(), '\n')
			if i < 0 {
				i = len(l.rest()) - 1
			}
			l.advance(i + 1)
		case strings.HasPrefix(l.rest(), "/*"):
			p := l.pos()
			i := strings.Index(l.rest()[2:], "*/")
			if i < 0 {
				return errorf(p, "this comment is never closed; end it with */")
			}
			l.advance(i + 4)
		default:
			return nil
		}
	}
	return nil
}

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func (l *lexer) next() (token, *Error) {
	if err := l.skip(); err != nil {
		return token{}, err
	}
	p := l.pos()
	if l.off >= len(l.src) {
		return token{kind: tEOF, pos: p}, nil
	}
	c := l.src[l.off]
	switch {
	case strings.IndexByte(";,()[]{}", c) >= 0:
		l.advance(1)
		return token{kind: tPunct, pos: p, text: string(c)}, nil
	case c == '"':
		return l.quoted(p)
	case c == ':':
		l.advance(1)
		id := l.ident()
		if id == "" {
			return token{}, errorf(p, "a tag is a colon followed by a name, such as :is")
		}
		return token{kind: tTag, pos: p, text: strings.ToLower(id)}, nil
	case isDigit(c):
		return l.number(p)
	case isAlpha(c):
		id := l.ident()
		if strings.ToLower(id) == "text" && strings.HasPrefix(l.rest(), ":") {
			l.advance(1)
			return l.multiline(p)
		}
		return token{kind: tIdent, pos: p, text: strings.ToLower(id)}, nil
	}
	return token{}, errorf(p, "unexpected character %q", rune(c))
}

func (l *lexer) ident() string {
	i := 0
	r := l.rest()
	for i < len(r) && (isAlpha(r[i]) || i > 0 && isDigit(r[i])) {
		i++
	}
	l.advance(i)
	return r[:i]
}

func (l *lexer) number(p Pos) (token, *Error) {
	r := l.rest()
	i := 0
	for i < len(r) && isDigit(r[i]) {
		i++
	}
	n, err := strconv.ParseInt(r[:i], 10, 64)
	mult := int64(1)
	if i < len(r) {
		switch r[i] {
		case 'k', 'K':
			mult = 1 << 10
		case 'm', 'M':
			mult = 1 << 20
		case 'g', 'G':
			mult = 1 << 30
		}
		if mult > 1 {
			i++
		}
	}
	if err != nil || n > (1<<53)/mult {
		return token{}, errorf(p, "number %s is too large", r[:i])
	}
	l.advance(i)
	return token{kind: tNumber, pos: p, num: n * mult}, nil
}

// quoted reads "..." where \x stands for x.
func (l *lexer) quoted(p Pos) (token, *Error) {
	l.advance(1)
	var b strings.Builder
	for {
		r := l.rest()
		i := strings.IndexAny(r, "\"\\")
		if i < 0 {
			return token{}, errorf(p, "this string is never closed; end it with \"")
		}
		b.WriteString(r[:i])
		if r[i] == '"' {
			l.advance(i + 1)
			return token{kind: tString, pos: p, text: b.String()}, nil
		}
		if i+1 < len(r) {
			b.WriteByte(r[i+1])
		}
		l.advance(i + 2)
	}
}

// multiline reads a text: string: lines up to one holding a lone ".",
// with a leading ".." standing for ".".
func (l *lexer) multiline(p Pos) (token, *Error) {
	r := l.rest()
	nl := strings.IndexByte(r, '\n')
	if nl < 0 {
		return token{}, errorf(p, "text: must be followed by a line break")
	}
	head := strings.TrimSpace(strings.TrimSuffix(r[:nl], "\r"))
	if head != "" && !strings.HasPrefix(head, "#") {
		return token{}, errorf(p, "only a # comment may follow text: on its line")
	}
	l.advance(nl + 1)
	var b strings.Builder
	for {
		r = l.rest()
		if r == "" {
			return token{}, errorf(p, "this text: string is never closed; end it with a line holding only a dot")
		}
		nl = strings.IndexByte(r, '\n')
		line := r
		if nl >= 0 {
			line = r[:nl+1]
		}
		l.advance(len(line))
		bare := strings.TrimRight(line, "\r\n")
		if bare == "." {
			return token{kind: tString, pos: p, text: b.String()}, nil
		}
		if strings.HasPrefix(bare, "..") {
			bare = bare[1:]
		}
		b.WriteString(bare)
		b.WriteString("\r\n")
	}
}
