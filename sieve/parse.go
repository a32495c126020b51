package sieve

import "strings"

// argKind tells tagged, numeric and string-list arguments apart.
type argKind int

const (
	argTag argKind = iota
	argNumber
	argStrings
)

// arg is one argument as written: a tag, a number or a string list (a
// single string is a list of one; single records that it had no brackets).
type arg struct {
	kind   argKind
	pos    Pos
	tag    string
	num    int64
	strs   []string
	single bool
}

// node is a command or a test as written, before checking.
type node struct {
	name  string
	pos   Pos
	args  []arg
	tests []*node
	block []*node // commands only
	// hasBlock records a block, even an empty one.
	hasBlock bool
}

// maxNesting bounds blocks and test lists inside each other, so a
// hostile script cannot exhaust the stack.
const maxNesting = 32

type parser struct {
	lx    lexer
	tok   token
	depth int
}

// parseNodes reads a script into commands without checking names.
func parseNodes(src string) ([]*node, *Error) {
	p := &parser{lx: lexer{src: src, line: 1, col: 1}}
	if err := p.advance(); err != nil {
		return nil, err
	}
	cmds, err := p.commands()
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tEOF {
		return nil, errorf(p.tok.pos, "unexpected %s; a command starts with its name", p.tok.describe())
	}
	return cmds, nil
}

func (p *parser) advance() *Error {
	t, err := p.lx.next()
	if err != nil {
		return err
	}
	p.tok = t
	return nil
}

func (p *parser) punct(s string) bool { return p.tok.kind == tPunct && p.tok.text == s }

func (p *parser) commands() ([]*node, *Error) {
	var out []*node
	for p.tok.kind == tIdent {
		c, err := p.command()
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

func (p *parser) command() (*node, *Error) {
	n := &node{name: p.tok.text, pos: p.tok.pos}
	if err := p.advance(); err != nil {
		return nil, err
	}
	if err := p.arguments(n); err != nil {
		return nil, err
	}
	switch {
	case p.punct(";"):
		return n, p.advance()
	case p.punct("{"):
		return n, p.block(n)
	}
	return nil, errorf(p.tok.pos, "expected ; or { after %s, found %s", n.name, p.tok.describe())
}

func (p *parser) block(n *node) *Error {
	if p.depth++; p.depth > maxNesting {
		return errorf(p.tok.pos, "blocks are nested more than %d deep", maxNesting)
	}
	defer func() { p.depth-- }()
	if err := p.advance(); err != nil {
		return err
	}
	cmds, err := p.commands()
	if err != nil {
		return err
	}
	if !p.punct("}") {
		return errorf(p.tok.pos, "expected } to close the block of %s at %s, found %s", n.name, n.pos, p.tok.describe())
	}
	n.block, n.hasBlock = cmds, true
	return p.advance()
}

// arguments reads tags, numbers and string lists, then a test or a
// parenthesised test list.
func (p *parser) arguments(n *node) *Error {
	for {
		a, ok, err := p.argument()
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		n.args = append(n.args, a)
	}
	switch {
	case p.tok.kind == tIdent:
		t, err := p.test()
		if err != nil {
			return err
		}
		n.tests = []*node{t}
	case p.punct("("):
		ts, err := p.testList()
		if err != nil {
			return err
		}
		n.tests = ts
	}
	return nil
}

func (p *parser) argument() (arg, bool, *Error) {
	t := p.tok
	switch {
	case t.kind == tTag:
		return arg{kind: argTag, pos: t.pos, tag: t.text}, true, p.advance()
	case t.kind == tNumber:
		return arg{kind: argNumber, pos: t.pos, num: t.num}, true, p.advance()
	case t.kind == tString:
		return arg{kind: argStrings, pos: t.pos, strs: []string{t.text}, single: true}, true, p.advance()
	case p.punct("["):
		a, err := p.stringList()
		return a, err == nil, err
	}
	return arg{}, false, nil
}

func (p *parser) stringList() (arg, *Error) {
	a := arg{kind: argStrings, pos: p.tok.pos, strs: []string{}}
	for {
		if err := p.advance(); err != nil {
			return a, err
		}
		if p.tok.kind != tString {
			return a, errorf(p.tok.pos, "expected a string in the list, found %s", p.tok.describe())
		}
		a.strs = append(a.strs, p.tok.text)
		if err := p.advance(); err != nil {
			return a, err
		}
		if p.punct("]") {
			return a, p.advance()
		}
		if !p.punct(",") {
			return a, errorf(p.tok.pos, "expected , or ] in the string list, found %s", p.tok.describe())
		}
	}
}

func (p *parser) test() (*node, *Error) {
	if p.depth++; p.depth > maxNesting {
		return nil, errorf(p.tok.pos, "tests are nested more than %d deep", maxNesting)
	}
	defer func() { p.depth-- }()
	n := &node{name: p.tok.text, pos: p.tok.pos}
	if err := p.advance(); err != nil {
		return nil, err
	}
	return n, p.arguments(n)
}

func (p *parser) testList() ([]*node, *Error) {
	var out []*node
	for {
		if err := p.advance(); err != nil {
			return nil, err
		}
		if p.tok.kind != tIdent {
			return nil, errorf(p.tok.pos, "expected a test, found %s", p.tok.describe())
		}
		t, err := p.test()
		if err != nil {
			return nil, err
		}
		out = append(out, t)
		if p.punct(")") {
			return out, p.advance()
		}
		if !p.punct(",") {
			return nil, errorf(p.tok.pos, "expected , or ) in the test list, found %s", p.tok.describe())
		}
	}
}

// lowerAll lower-cases every string of a list (capability and header
// names are case-insensitive).
func lowerAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strings.ToLower(s)
	}
	return out
}
