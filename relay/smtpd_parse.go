package relay

import (
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-smtp"
)

// Replies to MAIL and RCPT arguments that do not parse (RFC 5321 section
// 4.1.2, RFC 3461 for the DSN parameters), in go-smtp's words.
var (
	errMailSyntax   = errReply(501, code(5, 5, 2), "Was expecting MAIL arg syntax of FROM:<address>")
	errRcptSyntax   = errReply(501, code(5, 5, 2), "Was expecting RCPT arg syntax of TO:<address>")
	errMailParams   = errReply(501, code(5, 5, 4), "Unable to parse MAIL ESMTP parameters")
	errRcptParams   = errReply(501, code(5, 5, 4), "Unable to parse RCPT ESMTP parameters")
	errSizeSyntax   = errReply(501, code(5, 5, 4), "Unable to parse SIZE as an integer")
	errSizeTooLarge = errReply(552, code(5, 3, 4), "Max message size exceeded")
	errBodyValue    = errReply(501, code(5, 5, 4), "Unknown BODY value")
	errRetValue     = errReply(501, code(5, 5, 4), "Unknown RET value")
	errEnvID        = errReply(501, code(5, 5, 4), "Malformed ENVID parameter value")
	errAuthParam    = errReply(500, code(5, 5, 4), "Malformed AUTH parameter value")
	errMailParam    = errReply(500, code(5, 5, 4), "Unknown MAIL FROM argument")
	errNotify       = errReply(501, code(5, 5, 4), "Malformed NOTIFY parameter value")
	errORCPT        = errReply(501, code(5, 5, 4), "Malformed ORCPT parameter value")
	errRcptParam    = errReply(500, code(5, 5, 4), "Unknown RCPT TO argument")
	errBinaryMIME   = errReply(504, code(5, 5, 4), "BINARYMIME is not implemented")
)

// parseMail parses the argument of MAIL: "FROM:<path> [params]".
func parseMail(arg string, maxSize int64) (string, *smtp.MailOptions, *smtp.SMTPError) {
	rest, ok := cutPrefixFold(arg, "FROM:")
	if !ok {
		return "", nil, errMailSyntax
	}
	p := addrParser{s: strings.TrimSpace(rest)}
	from, err := p.reversePath()
	if err != nil {
		return "", nil, errMailSyntax
	}
	params, err := parseParams(p.s)
	if err != nil {
		return "", nil, errMailParams
	}
	opts := &smtp.MailOptions{}
	for key, value := range params {
		if r := mailParam(opts, key, value, maxSize); r != nil {
			return "", nil, r
		}
	}
	return from, opts, nil
}

// mailParam applies one MAIL parameter.
func mailParam(opts *smtp.MailOptions, key, value string, maxSize int64) *smtp.SMTPError {
	switch key {
	case "SIZE":
		n, err := strconv.ParseUint(value, 10, 32)
		if err != nil {
			return errSizeSyntax
		}
		if maxSize > 0 && int64(n) > maxSize {
			return errSizeTooLarge
		}
		opts.Size = int64(n)
	case "SMTPUTF8":
		opts.UTF8 = true
	case "REQUIRETLS":
		opts.RequireTLS = true
	case "BODY":
		switch b := smtp.BodyType(strings.ToUpper(value)); b {
		case smtp.Body7Bit, smtp.Body8BitMIME:
			opts.Body = b
		case smtp.BodyBinaryMIME:
			return errBinaryMIME
		default:
			return errBodyValue
		}
	case "RET":
		switch r := smtp.DSNReturn(strings.ToUpper(value)); r {
		case smtp.DSNReturnFull, smtp.DSNReturnHeaders:
			opts.Return = r
		default:
			return errRetValue
		}
	case "ENVID":
		id, err := decodeXtext(value)
		if err != nil || id == "" || !printableASCII(id) {
			return errEnvID
		}
		opts.EnvelopeID = id
	case "AUTH":
		return authParam(opts, value)
	default:
		return errMailParam
	}
	return nil
}

// authParam parses MAIL's AUTH= (RFC 4954 section 5): "<>" or a mailbox.
func authParam(opts *smtp.MailOptions, value string) *smtp.SMTPError {
	v, err := decodeXtext(value)
	if err != nil || v == "" {
		return errAuthParam
	}
	if v == "<>" {
		v = ""
	} else {
		p := addrParser{s: v}
		if v, err = p.mailbox(); err != nil || p.s != "" {
			return errReply(500, code(5, 5, 4), "Malformed AUTH parameter mailbox")
		}
	}
	opts.Auth = &v
	return nil
}

// parseRcptPath parses "TO:<path>" and returns the parameters after it.
func parseRcptPath(arg string) (to, rest string, r *smtp.SMTPError) {
	s, ok := cutPrefixFold(arg, "TO:")
	if !ok {
		return "", "", errRcptSyntax
	}
	p := addrParser{s: strings.TrimSpace(s)}
	to, err := p.path()
	if err != nil {
		return "", "", errRcptSyntax
	}
	return to, p.s, nil
}

// parseRcptParams parses RCPT's parameters: NOTIFY and ORCPT (RFC 3461).
func parseRcptParams(s string) (*smtp.RcptOptions, *smtp.SMTPError) {
	params, err := parseParams(s)
	if err != nil {
		return nil, errRcptParams
	}
	opts := &smtp.RcptOptions{}
	for key, value := range params {
		switch key {
		case "NOTIFY":
			if opts.Notify, err = parseNotify(value); err != nil {
				return nil, errNotify
			}
		case "ORCPT":
			typ, addr, err := decodeTypedAddress(value)
			if err != nil || addr == "" {
				return nil, errORCPT
			}
			opts.OriginalRecipientType, opts.OriginalRecipient = typ, addr
		default:
			return nil, errRcptParam
		}
	}
	return opts, nil
}

var errBadParam = errors.New("malformed parameter")

// parseNotify parses NOTIFY=NEVER or a set of SUCCESS, FAILURE, DELAY.
func parseNotify(value string) ([]smtp.DSNNotify, error) {
	seen := map[smtp.DSNNotify]bool{}
	var out []smtp.DSNNotify
	for _, v := range strings.Split(value, ",") {
		n := smtp.DSNNotify(strings.ToUpper(v))
		switch n {
		case smtp.DSNNotifyNever, smtp.DSNNotifyDelayed, smtp.DSNNotifyFailure, smtp.DSNNotifySuccess:
		default:
			return nil, errBadParam
		}
		if seen[n] {
			return nil, errBadParam
		}
		seen[n] = true
		out = append(out, n)
	}
	if seen[smtp.DSNNotifyNever] && len(out) > 1 {
		return nil, errBadParam
	}
	return out, nil
}

// decodeTypedAddress parses ORCPT's "type;xtext" (RFC 3461 section 4.2,
// RFC 6533 for utf-8).
func decodeTypedAddress(v string) (smtp.DSNAddressType, string, error) {
	typ, addr, ok := strings.Cut(v, ";")
	if !ok || typ == "" || addr == "" {
		return "", "", errBadParam
	}
	t := smtp.DSNAddressType(strings.ToUpper(typ))
	switch t {
	case smtp.DSNAddressTypeRFC822:
		a, err := decodeXtext(addr)
		if err != nil || !printableASCII(a) {
			return "", "", errBadParam
		}
		return t, a, nil
	case smtp.DSNAddressTypeUTF8:
		a, err := decodeUTF8Xtext(addr)
		return t, a, err
	}
	return "", "", errBadParam
}

// parseParams splits "KEY=value KEY2" into a map with keys in capitals.
func parseParams(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, f := range strings.Fields(s) {
		k, v, _ := strings.Cut(f, "=")
		if strings.Contains(v, "=") || k == "" {
			return nil, errBadParam
		}
		out[strings.ToUpper(k)] = v
	}
	return out, nil
}

// decodeXtext decodes RFC 3461 xtext: "+HH" for a byte.
func decodeXtext(s string) (string, error) {
	if !strings.Contains(s, "+") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '+' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", errBadParam
		}
		n, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
		if err != nil || strings.ToUpper(s[i+1:i+3]) != s[i+1:i+3] {
			return "", errBadParam
		}
		b.WriteByte(byte(n))
		i += 2
	}
	return b.String(), nil
}

// decodeUTF8Xtext decodes RFC 6533 utf-8-addr-xtext: "\x{HEX}" for a
// code point, UTF-8 as it is.
func decodeUTF8Xtext(s string) (string, error) {
	var b strings.Builder
	for len(s) > 0 {
		rest, ok := strings.CutPrefix(s, `\x{`)
		if !ok {
			r, n := utf8.DecodeRuneInString(s)
			if r == utf8.RuneError || r < 0x20 || r == 0x7f {
				return "", errBadParam
			}
			b.WriteString(s[:n])
			s = s[n:]
			continue
		}
		hex, after, ok := strings.Cut(rest, "}")
		n, err := strconv.ParseUint(hex, 16, 32)
		if !ok || err != nil || len(hex) > 6 || !utf8.ValidRune(rune(n)) {
			return "", errBadParam
		}
		b.WriteRune(rune(n))
		s = after
	}
	return b.String(), nil
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// cutPrefixFold is strings.CutPrefix without regard to case.
func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) < len(prefix) || !strings.EqualFold(s[:len(prefix)], prefix) {
		return "", false
	}
	return s[len(prefix):], true
}
