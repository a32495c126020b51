package sieve

import (
	"context"
	"errors"
	"strings"
)

// Envelope is the SMTP envelope of the message being filtered.
type Envelope struct {
	From string // "" for the null reverse path
	To   string // the recipient this run is for
}

// Limits bound one run. Zero values take the defaults below.
type Limits struct {
	MaxActions   int // actions a run may ask for
	MaxRedirects int // redirects a run may ask for
	MaxSteps     int // commands, tests and comparisons a run may take
}

// Default limits.
const (
	DefaultMaxActions   = 32
	DefaultMaxRedirects = 4
	DefaultMaxSteps     = 200000
	maxVarLen           = 16 << 10 // bytes a variable may hold
	// maxGlobWork bounds one :matches comparison (pattern length times
	// value length: the worst case of the wildcard search).
	maxGlobWork = 1 << 28
	// maxBodyText is what the body test looks at of each part.
	maxBodyText = 1 << 20
)

func (l Limits) withDefaults() Limits {
	if l.MaxActions <= 0 {
		l.MaxActions = DefaultMaxActions
	}
	if l.MaxRedirects <= 0 {
		l.MaxRedirects = DefaultMaxRedirects
	}
	if l.MaxSteps <= 0 {
		l.MaxSteps = DefaultMaxSteps
	}
	return l
}

// RunOptions are the facts and limits of one run.
type RunOptions struct {
	Envelope Envelope
	Limits   Limits
	// MailboxExists answers the mailboxexists test; nil means only
	// INBOX exists.
	MailboxExists func(name string) bool
}

// errStop ends a run at a stop command.
var errStop = errors.New("stop")

type runner struct {
	ctx        context.Context
	s          *Script
	msg        *Message
	opt        RunOptions
	lim        Limits
	vars       map[string]string
	matchVars  []string
	flags      []string // the internal flag variable of imap4flags
	actions    []Action
	cancelKeep bool
	redirects  int
	steps      int
}

// Run evaluates the script for one message. On a *RuntimeError (a limit
// reached, an incompatible action, a bad address) the caller should keep
// the message in INBOX and log the error.
func (s *Script) Run(ctx context.Context, msg *Message, opt RunOptions) (*Result, error) {
	r := &runner{ctx: ctx, s: s, msg: msg, opt: opt, lim: opt.Limits.withDefaults(), vars: map[string]string{}}
	if err := r.exec(s.cmds); err != nil && !errors.Is(err, errStop) {
		return nil, err
	}
	if !r.cancelKeep {
		r.actions = append(r.actions, Action{Kind: ActKeep, Implicit: true, Flags: r.flags})
	}
	return &Result{Actions: dedupe(r.actions)}, nil
}

func (r *runner) fail(p Pos, msg string) error { return &RuntimeError{Pos: p, Msg: msg} }

// step counts work and ends runaway scripts.
func (r *runner) step(p Pos) error {
	r.steps++
	if r.steps > r.lim.MaxSteps {
		return r.fail(p, "the script took more than its step limit")
	}
	if r.steps%1024 == 0 && r.ctx.Err() != nil {
		return r.fail(p, "the script ran out of time")
	}
	return nil
}

func (r *runner) exec(cmds []*Node) error {
	for _, c := range cmds {
		if err := r.step(c.Pos); err != nil {
			return err
		}
		if err := r.command(c); err != nil {
			return err
		}
	}
	return nil
}

func (r *runner) command(c *Node) error {
	switch c.Name {
	case "if":
		return r.ifChain(c)
	case "stop":
		return errStop
	case "keep", "discard", "fileinto", "redirect", "reject", "ereject", "vacation":
		return r.action(c)
	case "setflag", "addflag", "removeflag":
		return r.flagCommand(c)
	case "set":
		return r.set(c)
	}
	return r.fail(c.Pos, "command "+c.Name+" cannot run here")
}

func (r *runner) ifChain(c *Node) error {
	ok, err := r.test(c.tests[0])
	if err != nil {
		return err
	}
	if ok {
		return r.exec(c.block)
	}
	for _, b := range c.chain {
		if b.Name == "else" {
			return r.exec(b.block)
		}
		ok, err := r.test(b.tests[0])
		if err != nil {
			return err
		}
		if ok {
			return r.exec(b.block)
		}
	}
	return nil
}

// strs returns an argument's strings with variables expanded.
func (r *runner) strs(a arg) []string {
	if !r.s.caps["variables"] {
		return a.strs
	}
	out := make([]string, len(a.strs))
	for i, s := range a.strs {
		out[i] = r.expand(s)
	}
	return out
}

func (r *runner) str(a arg) string { return r.strs(a)[0] }

// expand replaces ${name} and ${N} (RFC 5229); unknown names become "",
// text that is not a variable reference stays as it is.
func (r *runner) expand(s string) string {
	if !strings.Contains(s, "${") {
		return s
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			break
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			b.WriteString(s)
			break
		}
		name := s[i+2 : i+j]
		val, ok := r.lookup(name)
		b.WriteString(s[:i])
		if ok {
			b.WriteString(val)
			s = s[i+j+1:]
		} else {
			b.WriteString("${")
			s = s[i+2:]
		}
		if b.Len() > maxVarLen {
			return b.String()[:maxVarLen]
		}
	}
	return b.String()
}

// lookup finds a variable; ok is false when name is not a valid
// reference (so it stays literal).
func (r *runner) lookup(name string) (string, bool) {
	if name != "" && strings.Trim(name, "0123456789") == "" {
		n, _ := numeric(name)
		if n < uint64(len(r.matchVars)) {
			return r.matchVars[n], true
		}
		return "", true
	}
	if checkVarName(arg{strs: []string{name}}, false) != nil {
		return "", false
	}
	return r.vars[strings.ToLower(name)], true
}
