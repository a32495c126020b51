package sieve

import (
	"sort"
	"strings"
)

// valKind is what follows a tag, or what a positional argument must be.
type valKind int

const (
	vNone   valKind = iota
	vString         // exactly one string
	vList           // a string or a string list
	vNumber
)

type tagSpec struct {
	group string // tags of one group exclude each other ("" for none)
	val   valKind
	ext   string // capability the tag needs, "" for none
}

type spec struct {
	ext      string // capability the command or test needs
	tags     map[string]tagSpec
	pos      []valKind
	optFirst bool // the first positional argument may be left out
	tests    int  // 0: none, 1: exactly one, -1: a list
	block    bool
	required []string // groups that must be present
}

func matchTags(extra map[string]tagSpec) map[string]tagSpec {
	m := map[string]tagSpec{
		"is": {group: "match"}, "contains": {group: "match"}, "matches": {group: "match"},
		"count":      {group: "match", val: vString, ext: "relational"},
		"value":      {group: "match", val: vString, ext: "relational"},
		"comparator": {group: "comparator", val: vString},
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

var addressParts = map[string]tagSpec{
	"all": {group: "part"}, "localpart": {group: "part"}, "domain": {group: "part"},
	"user": {group: "part", ext: "subaddress"}, "detail": {group: "part", ext: "subaddress"},
}

var testSpecs = map[string]spec{
	"address":  {tags: matchTags(addressParts), pos: []valKind{vList, vList}},
	"envelope": {ext: "envelope", tags: matchTags(addressParts), pos: []valKind{vList, vList}},
	"header":   {tags: matchTags(nil), pos: []valKind{vList, vList}},
	"exists":   {pos: []valKind{vList}},
	"size": {tags: map[string]tagSpec{"over": {group: "size"}, "under": {group: "size"}},
		pos: []valKind{vNumber}, required: []string{"size"}},
	"body": {ext: "body", tags: matchTags(map[string]tagSpec{
		"raw": {group: "transform"}, "text": {group: "transform"}, "content": {group: "transform", val: vList}}),
		pos: []valKind{vList}},
	"string":        {ext: "variables", tags: matchTags(nil), pos: []valKind{vList, vList}},
	"hasflag":       {ext: "imap4flags", tags: matchTags(nil), pos: []valKind{vList, vList}, optFirst: true},
	"mailboxexists": {ext: "mailbox", pos: []valKind{vList}},
	"true":          {},
	"false":         {},
	"not":           {tests: 1},
	"allof":         {tests: -1},
	"anyof":         {tests: -1},
}

var flagTag = map[string]tagSpec{"flags": {val: vList, ext: "imap4flags"}}

var commandSpecs = map[string]spec{
	"require": {pos: []valKind{vList}},
	"if":      {tests: 1, block: true},
	"elsif":   {tests: 1, block: true},
	"else":    {block: true},
	"stop":    {},
	"keep":    {tags: flagTag},
	"discard": {},
	"fileinto": {ext: "fileinto", tags: map[string]tagSpec{
		"copy": {ext: "copy"}, "create": {ext: "mailbox"}, "flags": flagTag["flags"]}, pos: []valKind{vString}},
	"redirect":   {tags: map[string]tagSpec{"copy": {ext: "copy"}}, pos: []valKind{vString}},
	"reject":     {ext: "reject", pos: []valKind{vString}},
	"ereject":    {ext: "ereject", pos: []valKind{vString}},
	"setflag":    {ext: "imap4flags", pos: []valKind{vString, vList}, optFirst: true},
	"addflag":    {ext: "imap4flags", pos: []valKind{vString, vList}, optFirst: true},
	"removeflag": {ext: "imap4flags", pos: []valKind{vString, vList}, optFirst: true},
	"set": {ext: "variables", tags: map[string]tagSpec{
		"lower": {group: "case"}, "upper": {group: "case"}, "lowerfirst": {group: "casefirst"},
		"upperfirst": {group: "casefirst"}, "quotewildcard": {group: "quote"}, "length": {group: "length"},
		"quoteregex": {group: "quote", ext: "regex"}}, pos: []valKind{vString, vString}},
	"vacation": {ext: "vacation", tags: map[string]tagSpec{
		"days": {val: vNumber}, "seconds": {val: vNumber, ext: "vacation-seconds"}, "subject": {val: vString},
		"from": {val: vString}, "addresses": {val: vList}, "mime": {}, "handle": {val: vString}},
		pos: []valKind{vString}},
}

// Capabilities are the extensions a script may require, as announced by
// ManageSieve's SIEVE capability.
var Capabilities = []string{
	"body", "comparator-i;ascii-numeric", "comparator-i;ascii-casemap", "comparator-i;octet", "copy",
	"envelope", "ereject", "fileinto", "imap4flags", "mailbox", "reject", "relational", "subaddress",
	"vacation", "vacation-seconds", "variables",
}

var comparators = map[string]string{
	"i;octet": "", "i;ascii-casemap": "", "i;ascii-numeric": "comparator-i;ascii-numeric",
}

// Node is a checked command or test.
type Node struct {
	Name  string
	Pos   Pos
	tags  map[string]arg // tag -> its value (or the tag itself when it takes none)
	group map[string]string
	args  []arg // positional
	tests []*Node
	block []*Node
	// chain holds the elsif and else branches that follow an if.
	chain []*Node
}

func (n *Node) has(tag string) bool { _, ok := n.tags[tag]; return ok }

type checker struct {
	caps map[string]bool
}

// checkScript checks every command of a script, require first.
func checkScript(nodes []*node) ([]*Node, map[string]bool, *Error) {
	c := &checker{caps: map[string]bool{"comparator-i;octet": true, "comparator-i;ascii-casemap": true}}
	seenOther := false
	for _, n := range nodes {
		if n.name == "require" {
			if seenOther {
				return nil, nil, errorf(n.pos, "require must come before every other command")
			}
			if err := c.require(n); err != nil {
				return nil, nil, err
			}
			continue
		}
		seenOther = true
	}
	cmds, err := c.commands(nodes, true)
	return cmds, c.caps, err
}

func (c *checker) require(n *node) *Error {
	if _, err := c.node(n, commandSpecs["require"]); err != nil {
		return err
	}
	known := map[string]bool{}
	for _, k := range Capabilities {
		known[k] = true
	}
	for _, s := range n.args[0].strs {
		s = strings.ToLower(s)
		if !known[s] {
			return errorf(n.args[0].pos, "extension %q is not supported here; supported: %s", s, strings.Join(Capabilities, " "))
		}
		c.caps[s] = true
	}
	return nil
}

// commands checks a block's commands and links elsif/else to their if.
func (c *checker) commands(nodes []*node, top bool) ([]*Node, *Error) {
	var out []*Node
	var lastIf *Node
	for _, n := range nodes {
		if n.name == "require" {
			if !top {
				return nil, errorf(n.pos, "require must be at the top of the script, not inside a block")
			}
			continue
		}
		cn, err := c.command(n)
		if err != nil {
			return nil, err
		}
		switch n.name {
		case "elsif", "else":
			if lastIf == nil {
				return nil, errorf(n.pos, "%s must follow an if or elsif", n.name)
			}
			lastIf.chain = append(lastIf.chain, cn)
			if n.name == "else" {
				lastIf = nil
			}
			continue
		case "if":
			lastIf = cn
		default:
			lastIf = nil
		}
		out = append(out, cn)
	}
	return out, nil
}

func (c *checker) command(n *node) (*Node, *Error) {
	sp, ok := commandSpecs[n.name]
	if !ok {
		if _, isTest := testSpecs[n.name]; isTest {
			return nil, errorf(n.pos, "%s is a test; use it inside if, e.g. if %s ... { keep; }", n.name, n.name)
		}
		return nil, errorf(n.pos, "unknown command %q", n.name)
	}
	if sp.block && !n.hasBlock {
		return nil, errorf(n.pos, "%s needs a block in { }", n.name)
	}
	if !sp.block && n.hasBlock {
		return nil, errorf(n.pos, "%s takes no block; end it with ;", n.name)
	}
	cn, err := c.node(n, sp)
	if err != nil {
		return nil, err
	}
	if cn.block, err = c.commands(n.block, false); err != nil {
		return nil, err
	}
	return cn, c.semantics(cn)
}

func (c *checker) test(n *node) (*Node, *Error) {
	sp, ok := testSpecs[n.name]
	if !ok {
		if _, isCmd := commandSpecs[n.name]; isCmd {
			return nil, errorf(n.pos, "%s is a command, not a test", n.name)
		}
		return nil, errorf(n.pos, "unknown test %q", n.name)
	}
	cn, err := c.node(n, sp)
	if err != nil {
		return nil, err
	}
	return cn, c.semantics(cn)
}

// node checks arguments and tests against a spec.
func (c *checker) node(n *node, sp spec) (*Node, *Error) {
	if sp.ext != "" && !c.caps[sp.ext] {
		return nil, errorf(n.pos, "%s needs require %q at the top of the script", n.name, sp.ext)
	}
	cn := &Node{Name: n.name, Pos: n.pos, tags: map[string]arg{}, group: map[string]string{}}
	i, err := c.tags(n, sp, cn)
	if err != nil {
		return nil, err
	}
	if err := c.positional(n, sp, cn, n.args[i:]); err != nil {
		return nil, err
	}
	for _, g := range sp.required {
		if cn.group[g] == "" {
			return nil, errorf(n.pos, "%s needs one of its tags (%s)", n.name, tagNames(sp, g))
		}
	}
	return cn, c.subtests(n, sp, cn)
}

func (c *checker) tags(n *node, sp spec, cn *Node) (int, *Error) {
	i := 0
	for ; i < len(n.args) && n.args[i].kind == argTag; i++ {
		a := n.args[i]
		ts, ok := sp.tags[a.tag]
		if !ok {
			return 0, errorf(a.pos, "%s has no tag :%s", n.name, a.tag)
		}
		if ts.ext != "" && !c.caps[ts.ext] {
			return 0, errorf(a.pos, ":%s needs require %q at the top of the script", a.tag, ts.ext)
		}
		if _, dup := cn.tags[a.tag]; dup {
			return 0, errorf(a.pos, ":%s is given twice", a.tag)
		}
		if ts.group != "" {
			if prev := cn.group[ts.group]; prev != "" {
				return 0, errorf(a.pos, ":%s and :%s cannot be used together", prev, a.tag)
			}
			cn.group[ts.group] = a.tag
		}
		v := a
		if ts.val != vNone {
			if i+1 >= len(n.args) || !fits(n.args[i+1], ts.val) {
				return 0, errorf(a.pos, ":%s must be followed by %s", a.tag, kindName(ts.val))
			}
			i++
			v = n.args[i]
		}
		cn.tags[a.tag] = v
	}
	return i, nil
}

func (c *checker) positional(n *node, sp spec, cn *Node, rest []arg) *Error {
	want := sp.pos
	if sp.optFirst && len(rest) == len(want)-1 {
		want = want[1:]
		cn.args = append(cn.args, arg{}) // the left-out argument
	}
	if len(rest) != len(want) {
		if len(rest) > 0 && rest[len(rest)-1].kind == argTag || hasTagAfter(rest) {
			for _, a := range rest {
				if a.kind == argTag {
					return errorf(a.pos, "tag :%s must come before %s's other arguments", a.tag, n.name)
				}
			}
		}
		return errorf(n.pos, "%s takes %d argument(s) besides its tags, got %d", n.name, len(sp.pos), len(rest))
	}
	for i, a := range rest {
		if !fits(a, want[i]) {
			return errorf(a.pos, "argument %d of %s must be %s", i+1, n.name, kindName(want[i]))
		}
	}
	cn.args = append(cn.args, rest...)
	return nil
}

func hasTagAfter(rest []arg) bool {
	for _, a := range rest {
		if a.kind == argTag {
			return true
		}
	}
	return false
}

func (c *checker) subtests(n *node, sp spec, cn *Node) *Error {
	switch {
	case sp.tests == 0 && len(n.tests) > 0:
		return errorf(n.tests[0].pos, "%s takes no test", n.name)
	case sp.tests == 1 && len(n.tests) != 1:
		return errorf(n.pos, "%s needs exactly one test", n.name)
	case sp.tests == -1 && len(n.tests) == 0:
		return errorf(n.pos, "%s needs a list of tests in ( )", n.name)
	}
	for _, t := range n.tests {
		ct, err := c.test(t)
		if err != nil {
			return err
		}
		cn.tests = append(cn.tests, ct)
	}
	return nil
}

func fits(a arg, k valKind) bool {
	switch k {
	case vString:
		return a.kind == argStrings && a.single
	case vList:
		return a.kind == argStrings
	case vNumber:
		return a.kind == argNumber
	}
	return false
}

func kindName(k valKind) string {
	switch k {
	case vString:
		return "a string"
	case vList:
		return "a string or a list of strings"
	case vNumber:
		return "a number"
	}
	return "nothing"
}

func tagNames(sp spec, group string) string {
	var names []string
	for t, ts := range sp.tags {
		if ts.group == group {
			names = append(names, ":"+t)
		}
	}
	sort.Strings(names)
	return strings.Join(names, " ")
}
