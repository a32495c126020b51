package sieve

import (
	"fmt"
	"unicode/utf8"
)

// Script is a parsed and checked Sieve program; it is immutable and may
// be run by many deliveries at once.
type Script struct {
	cmds []*Node
	caps map[string]bool
}

// DefaultMaxScriptSize bounds a script's source when the caller gives no
// limit.
const DefaultMaxScriptSize = 64 << 10

// Parse reads and checks a script. The error, an *Error, names the line
// and column of the first mistake. maxSize 0 means DefaultMaxScriptSize.
func Parse(src []byte, maxSize int) (*Script, error) {
	if maxSize <= 0 {
		maxSize = DefaultMaxScriptSize
	}
	if len(src) > maxSize {
		return nil, &Error{Pos: Pos{1, 1}, Msg: fmt.Sprintf("the script is %d bytes; the limit is %d", len(src), maxSize)}
	}
	if !utf8.Valid(src) {
		return nil, &Error{Pos: invalidUTF8(src), Msg: "the script is not valid UTF-8"}
	}
	nodes, perr := parseNodes(string(src))
	if perr != nil {
		return nil, perr
	}
	cmds, caps, cerr := checkScript(nodes)
	if cerr != nil {
		return nil, cerr
	}
	return &Script{cmds: cmds, caps: caps}, nil
}

// Requires reports whether the script requires a capability.
func (s *Script) Requires(capability string) bool { return s.caps[capability] }

func invalidUTF8(src []byte) Pos {
	p := Pos{1, 1}
	for len(src) > 0 {
		r, n := utf8.DecodeRune(src)
		if r == utf8.RuneError && n <= 1 {
			return p
		}
		if r == '\n' {
			p.Line, p.Col = p.Line+1, 1
		} else {
			p.Col++
		}
		src = src[n:]
	}
	return p
}
