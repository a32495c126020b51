// Package msgheader splits a message's header section into its fields as
// written (folded, with their line ends), for the filters that read and
// add fields and for ARC, which signs them.
package msgheader

import (
	"bytes"
	"strings"
)

// Field is one header field: Name, and Raw with its continuation lines
// and final line end.
type Field struct {
	Name string
	Raw  []byte
}

// Value returns the unfolded value after the colon, trimmed.
func (f Field) Value() string {
	v := strings.NewReplacer("\r\n", "", "\n", "").Replace(f.RawValue())
	return strings.TrimSpace(v)
}

// RawValue returns everything after the colon as written, still folded.
func (f Field) RawValue() string {
	i := bytes.IndexByte(f.Raw, ':')
	return string(f.Raw[i+1:])
}

// Split splits the header of raw into fields and returns the offset
// where the body starts (after the empty line, or len(raw) without one).
// A line without a colon is a field whose Name is the whole line.
func Split(raw []byte) ([]Field, int) {
	var fields []Field
	pos := 0
	for pos < len(raw) {
		end := bytes.IndexByte(raw[pos:], '\n')
		if end < 0 {
			end = len(raw)
		} else {
			end += pos + 1
		}
		line := raw[pos:end]
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			return fields, end
		}
		if (line[0] == ' ' || line[0] == '\t') && len(fields) > 0 {
			last := &fields[len(fields)-1]
			last.Raw = raw[pos-len(last.Raw) : end]
		} else {
			name := line
			if i := bytes.IndexByte(line, ':'); i >= 0 {
				name = line[:i]
			}
			fields = append(fields, Field{Name: string(bytes.TrimSpace(name)), Raw: line})
		}
		pos = end
	}
	return fields, len(raw)
}
