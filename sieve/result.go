package sieve

import (
	"fmt"
	"strings"
	"time"
)

// Kind names an action.
type Kind string

// The actions a script can ask for.
const (
	ActKeep     Kind = "keep"
	ActFileinto Kind = "fileinto"
	ActDiscard  Kind = "discard"
	ActRedirect Kind = "redirect"
	ActReject   Kind = "reject"
	ActEReject  Kind = "ereject"
	ActVacation Kind = "vacation"
)

// Action is one thing to do with the message.
type Action struct {
	Kind Kind
	// Mailbox is the folder of fileinto; Create asks for it to be made
	// when missing (RFC 5490).
	Mailbox string
	Create  bool
	// Flags are the IMAP flags to store with keep or fileinto.
	Flags []string
	// Address is the redirect target.
	Address string
	// Copy is set for redirect/fileinto :copy (RFC 3894).
	Copy bool
	// Reason is the text of reject/ereject.
	Reason string
	// Implicit marks the keep that happens because nothing cancelled it.
	Implicit bool
	Vacation *Vacation
}

// Vacation is an auto-reply request (RFC 5230).
type Vacation struct {
	Reason    string
	Subject   string // "" means "Auto: " + the original subject
	From      string
	Addresses []string
	MIME      bool
	Handle    string
	Period    time.Duration // :days or :seconds; the default is 7 days
}

func (a Action) String() string {
	switch a.Kind {
	case ActKeep:
		s := "keep"
		if a.Implicit {
			s = "keep (implicit)"
		}
		return s + flagSuffix(a.Flags)
	case ActFileinto:
		s := fmt.Sprintf("fileinto %q", a.Mailbox)
		if a.Create {
			s += " :create"
		}
		if a.Copy {
			s += " :copy"
		}
		return s + flagSuffix(a.Flags)
	case ActRedirect:
		s := fmt.Sprintf("redirect %q", a.Address)
		if a.Copy {
			s += " :copy"
		}
		return s
	case ActReject, ActEReject:
		return fmt.Sprintf("%s %q", a.Kind, a.Reason)
	case ActVacation:
		v := a.Vacation
		s := fmt.Sprintf("vacation once per %s per sender", v.Period)
		if v.Subject != "" {
			s += fmt.Sprintf(", subject %q", v.Subject)
		}
		if v.From != "" {
			s += fmt.Sprintf(", from %q", v.From)
		}
		return s + fmt.Sprintf(": %q", v.Reason)
	}
	return string(a.Kind)
}

func flagSuffix(flags []string) string {
	if len(flags) == 0 {
		return ""
	}
	return " flags " + strings.Join(flags, " ")
}

// Result is what a script decided.
type Result struct {
	Actions []Action
}

// Keeps reports whether the message is stored in INBOX (keep, explicit
// or implicit).
func (r *Result) Keeps() bool {
	for _, a := range r.Actions {
		if a.Kind == ActKeep {
			return true
		}
	}
	return false
}

// RuntimeError is a script failure while running: the caller files the
// message in INBOX instead (implicit keep) and logs it.
type RuntimeError struct {
	Pos Pos
	Msg string
}

func (e *RuntimeError) Error() string {
	return fmt.Sprintf("line %d, column %d: %s", e.Pos.Line, e.Pos.Col, e.Msg)
}
