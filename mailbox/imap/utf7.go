package imap

import (
	"encoding/base64"
	"errors"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Mailbox names on the wire are in modified UTF-7 (RFC 3501 5.1.3)
// unless the client enabled UTF8=ACCEPT or IMAP4rev2. imapserver decodes
// them for the commands it runs; these two functions do the same for the
// commands the front answers itself (GETQUOTAROOT).

// mutf7 is base64 with ',' in place of '/', without padding.
var mutf7 = base64.NewEncoding("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,").
	WithPadding(base64.NoPadding).Strict()

var errUTF7 = errors.New("not valid modified UTF-7")

// decodeMUTF7 turns a wire mailbox name into UTF-8. Raw UTF-8 is
// accepted too, as imapserver accepts it (clients that enabled
// UTF8=ACCEPT send it).
func decodeMUTF7(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", errUTF7
	}
	var b strings.Builder
	afterShift := false // a base64 run just ended: another may not follow at once
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c >= utf8.RuneSelf:
			_, n := utf8.DecodeRuneInString(s[i:])
			b.WriteString(s[i : i+n])
			i += n
			afterShift = false
		case c < 0x20 || c == 0x7f:
			return "", errUTF7
		case c != '&':
			b.WriteByte(c)
			i++
			afterShift = false
		default:
			end := strings.IndexByte(s[i+1:], '-')
			if end < 0 {
				return "", errUTF7 // "&" without its closing "-"
			}
			run := s[i+1 : i+1+end]
			i += end + 2
			if run == "" {
				b.WriteByte('&')
				afterShift = false
				continue
			}
			if afterShift {
				return "", errUTF7 // "&AOQ-&AOQ-" must be written as one run
			}
			text, err := decodeRun(run)
			if err != nil {
				return "", err
			}
			b.WriteString(text)
			afterShift = true
		}
	}
	return b.String(), nil
}

// decodeRun decodes the base64 between "&" and "-": UTF-16BE code units
// of characters that could not be written as printable ASCII.
func decodeRun(run string) (string, error) {
	raw, err := mutf7.DecodeString(run)
	if err != nil || len(raw)%2 != 0 {
		return "", errUTF7
	}
	units := make([]uint16, len(raw)/2)
	for i := range units {
		units[i] = uint16(raw[2*i])<<8 | uint16(raw[2*i+1])
	}
	var b strings.Builder
	for _, r := range utf16.Decode(units) {
		if r == utf8.RuneError || (r >= 0x20 && r <= 0x7e) {
			return "", errUTF7 // a lone surrogate, or ASCII that must be written as itself
		}
		b.WriteRune(r)
	}
	return b.String(), nil
}

// encodeMUTF7 turns a UTF-8 mailbox name into modified UTF-7.
func encodeMUTF7(s string) string {
	var b strings.Builder
	var run []rune
	flush := func() {
		if len(run) == 0 {
			return
		}
		units := utf16.Encode(run)
		raw := make([]byte, 0, 2*len(units))
		for _, u := range units {
			raw = append(raw, byte(u>>8), byte(u))
		}
		b.WriteByte('&')
		b.WriteString(mutf7.EncodeToString(raw))
		b.WriteByte('-')
		run = run[:0]
	}
	for _, r := range s {
		if r < 0x20 || r > 0x7e {
			run = append(run, r)
			continue
		}
		flush()
		if r == '&' {
			b.WriteString("&-")
		} else {
			b.WriteRune(r)
		}
	}
	flush()
	return b.String()
}
