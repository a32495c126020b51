package filters

import (
	"bytes"
	"strings"

	"mailgate/internal/mailmsg"

	"github.com/emersion/go-milter"
)

// apply carries out a milter's modifications on head (Prepend+Header, as
// the milter saw it): header changes rewrite Header, a body replacement
// Body, added fields go on top. It reports whether the milter asked for
// quarantine.
func apply(mods []milter.ModifyAction, msg *Message, head []byte) (quarantine bool) {
	var added []byte
	var body []byte
	changed, replaced := false, false
	for _, m := range mods {
		switch m.Code {
		case milter.ActAddHeader, milter.ActInsertHeader:
			added = append(added, headerLine(m.HeaderName, m.HeaderValue)...)
		case milter.ActChangeHeader:
			head = changeHeader(head, m.HeaderName, int(m.HeaderIndex), m.HeaderValue)
			changed = true
		case milter.ActReplBody:
			body = append(body, m.Body...)
			replaced = true
		case milter.ActQuarantine:
			quarantine = true
		}
	}
	if replaced {
		msg.Body = bytes.NewReader(toCRLF(body))
	}
	if changed {
		msg.Header, msg.Prepend = head, nil
	}
	msg.Prepend = append(added, msg.Prepend...)
	return quarantine
}

// headerLine renders a field from a milter, turning bare LF in a folded
// value into CRLF.
func headerLine(name, value string) []byte {
	return append([]byte(mailmsg.Clean(name)+": "), toCRLF([]byte(value+"\n"))...)
}

// changeHeader replaces the index-th (1-based) field called name; an empty
// value removes it.
func changeHeader(full []byte, name string, index int, value string) []byte {
	fields, at := headerFields(full)
	var out []byte
	n := 0
	for _, f := range fields {
		if strings.EqualFold(f.Name, name) {
			n++
			if n == index {
				if value != "" {
					out = append(out, headerLine(f.Name, value)...)
				}
				continue
			}
		}
		out = append(out, f.Raw...)
	}
	return append(out, bytes.Clone(full[headerEnd(fields, at, full):])...)
}

// toCRLF makes every line end CRLF: milters (and go-milter) may send LF.
func toCRLF(b []byte) []byte {
	b = bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
	b = bytes.ReplaceAll(b, []byte("\r"), nil) // no bare CR passes on
	return bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n"))
}
