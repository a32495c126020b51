package imap

import (
	"fmt"
	"strings"
)

// The ID command (RFC 2971), answered by the front in every state:
// clients send their name and version, and many (Thunderbird, iOS Mail,
// Outlook) send it before login. We answer with our name only, never a
// version an attacker could match against known bugs.

const (
	idMaxPairs    = 30   // RFC 2971 §3.3
	idMaxField    = 30   // octets of a field name
	idMaxValue    = 1024 // octets of a value
	idServerReply = `* ID ("name" "mailgate")`
)

// id answers ID with its reply lines. The client's fields are checked
// against RFC 2971's syntax and logged at debug level (which client a
// user has helps an operator answer a support question).
func (f *conn) id(c *command) []string {
	fields, err := c.args().idParams()
	if err != nil {
		return []string{c.tag + " BAD ID: " + err.Error()}
	}
	if len(fields) > 0 {
		f.log.Debug("imap client id", "fields", cleanLog(strings.Join(fields, " ")))
	}
	return []string{idServerReply, c.tag + " OK ID completed"}
}

// idParams reads SP ("(" string SP nstring *(SP string SP nstring) ")" / NIL)
// and the end of the command; it returns the fields as "name=value".
func (r *argReader) idParams() ([]string, error) {
	if !strings.HasPrefix(r.s, " ") {
		return nil, fmt.Errorf("write ID NIL or ID (\"name\" \"value\" ...)")
	}
	if strings.EqualFold(strings.TrimRight(r.s[1:], " "), "NIL") && r.i == len(r.c.lits) {
		return nil, nil
	}
	if !strings.HasPrefix(r.s, " (") {
		return nil, fmt.Errorf("write ID NIL or ID (\"name\" \"value\" ...)")
	}
	r.s = r.s[2:]
	var fields []string
	for {
		name, err := r.idString(false, idMaxField)
		if err != nil {
			return nil, err
		}
		if !strings.HasPrefix(r.s, " ") {
			return nil, fmt.Errorf("field %q has no value", name)
		}
		r.s = r.s[1:]
		value, err := r.idString(true, idMaxValue)
		if err != nil {
			return nil, err
		}
		if fields = append(fields, name+"="+value); len(fields) > idMaxPairs {
			return nil, fmt.Errorf("at most %d fields are allowed", idMaxPairs)
		}
		switch {
		case strings.HasPrefix(r.s, ")"):
			r.s = r.s[1:]
			if !r.end() {
				return nil, fmt.Errorf("unexpected text after the field list")
			}
			return fields, nil
		case strings.HasPrefix(r.s, " "):
			r.s = r.s[1:]
		default:
			return nil, fmt.Errorf("fields are separated by spaces and the list ends with ')'")
		}
	}
}

// idString reads a quoted string, a literal or (if nilOK) NIL, of at
// most max octets.
func (r *argReader) idString(nilOK bool, max int) (string, error) {
	var v string
	switch {
	case r.s == "" && r.i < len(r.c.lits):
		v = r.c.lits[r.i]
		r.i++
		r.s = r.c.text[r.i]
	case strings.HasPrefix(r.s, `"`):
		q, err := r.quoted()
		if err != nil {
			return "", err
		}
		v = q
	case nilOK && len(r.s) >= 3 && strings.EqualFold(r.s[:3], "NIL"):
		r.s = r.s[3:]
		return "NIL", nil
	default:
		return "", fmt.Errorf("expected a quoted string")
	}
	if len(v) > max {
		return "", fmt.Errorf("%q is longer than %d octets", v[:max]+"...", max)
	}
	return v, nil
}
