package imap

import (
	"mime"
	"strings"
	"time"

	goimap "github.com/emersion/go-imap/v2"
	gomessage "github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
)

// Address lists as ENVELOPE and SEARCH FROM/TO/CC/BCC need them (RFC
// 5322 §3.4, RFC 3501 §7.4.2): groups kept as IMAP's start and end
// markers (go-message flattens them, and net/mail drops empty groups),
// comments ignored except as the name of a bare address ("u@d (Real
// Name)", as Dovecot reads it), a source route (<@a,@b:user@host>) kept for ENVELOPE.
// Lenient as mail readers are: a malformed element is skipped, never the
// whole field.

// addrToken is a lexical unit of an address list: a word (atom, quoted
// string with its quotes removed, domain literal), one special
// character (< > @ , : ;), or a comment (special '(', text without the
// parentheses).
type addrToken struct {
	special byte // 0 for a word
	text    string
	quoted  bool
}

// tokenizeAddresses splits a header value into tokens.
func tokenizeAddresses(v string) []addrToken {
	var out []addrToken
	for i := 0; i < len(v); {
		c := v[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			i++
		case c == '(':
			j := skipComment(v, i)
			out = append(out, addrToken{special: '(', text: strings.TrimSuffix(v[i+1:j], ")")})
			i = j
		case strings.IndexByte("<>@,:;", c) >= 0:
			out = append(out, addrToken{special: c})
			i++
		case c == '"':
			var b strings.Builder
			j := i + 1
			for ; j < len(v) && v[j] != '"'; j++ {
				if v[j] == '\\' && j+1 < len(v) {
					j++
				}
				b.WriteByte(v[j])
			}
			out = append(out, addrToken{text: b.String(), quoted: true})
			i = j + 1
		default:
			j := i
			for j < len(v) && strings.IndexByte(" \t\r\n()<>@,:;\"", v[j]) < 0 {
				if v[j] == '[' { // domain literal: up to its ']'
					if k := strings.IndexByte(v[j:], ']'); k > 0 {
						j += k
					}
				}
				j++
			}
			out = append(out, addrToken{text: v[i:j]})
			i = j
		}
	}
	return out
}

// skipComment returns the index after the (possibly nested) comment
// starting at v[i].
func skipComment(v string, i int) int {
	depth := 0
	for ; i < len(v); i++ {
		switch v[i] {
		case '\\':
			i++
		case '(':
			depth++
		case ')':
			if depth--; depth == 0 {
				return i + 1
			}
		}
	}
	return i
}

// parseAddressList parses the values of one address field (all of its
// occurrences) into IMAP addresses with group markers.
func parseAddressList(values []string) []address {
	var out []address
	for _, v := range values {
		toks := tokenizeAddresses(v)
		inGroup, angle := false, 0
		start := 0
		for i := 0; i <= len(toks); i++ {
			var sp byte
			if i < len(toks) {
				sp = toks[i].special
			}
			switch {
			case sp == '<':
				angle++
				continue
			case sp == '>':
				angle = max(angle-1, 0)
				continue
			case angle > 0 && i < len(toks):
				continue
			case sp == ':' && !inGroup:
				out = append(out, address{Mailbox: decodeWords(phrase(toks[start:i]))})
				inGroup, start = true, i+1
				continue
			case sp != ',' && sp != ';' && i < len(toks):
				continue
			}
			if a, ok := parseMailbox(toks[start:i]); ok {
				out = append(out, a)
			}
			start = i + 1
			if sp == ';' && inGroup || i == len(toks) && inGroup {
				out = append(out, address{})
				inGroup = false
			}
		}
	}
	return out
}

// parseMailbox parses one mailbox: [phrase] <[route:]addr-spec> or a
// bare addr-spec.
func parseMailbox(toks []addrToken) (address, bool) {
	open := -1
	for i, t := range toks {
		if t.special == '<' {
			open = i
			break
		}
	}
	var a address
	spec := toks
	if open >= 0 {
		a.Name = decodeWords(phrase(toks[:open]))
		spec = toks[open+1:]
		for i, t := range spec {
			if t.special == '>' {
				spec = spec[:i]
				break
			}
		}
		if len(spec) > 0 && spec[0].special == '@' {
			for i, t := range spec {
				if t.special == ':' {
					a.Route = routeText(spec[:i])
					spec = spec[i+1:]
					break
				}
			}
		}
	}
	if open < 0 {
		for _, t := range spec {
			if t.special == '(' && strings.TrimSpace(t.text) != "" {
				a.Name = decodeWords(strings.TrimSpace(t.text))
			}
		}
	}
	at := -1
	for i, t := range spec {
		if t.special == '@' {
			at = i
		}
	}
	if at < 0 {
		a.Mailbox = joinWords(spec)
	} else {
		a.Mailbox, a.Host = joinWords(spec[:at]), joinWords(spec[at+1:])
	}
	return a, a.Mailbox != ""
}

// phrase joins the words of a display name with single spaces.
func phrase(toks []addrToken) string {
	var words []string
	for _, t := range toks {
		if t.special == 0 {
			words = append(words, t.text)
		}
	}
	return strings.Join(words, " ")
}

// joinWords joins the words of a local part or domain as written (dots
// are part of the atoms).
func joinWords(toks []addrToken) string {
	var b strings.Builder
	for _, t := range toks {
		if t.special == 0 {
			b.WriteString(t.text)
		}
	}
	return b.String()
}

// decodeWords decodes RFC 2047 encoded words (UTF-8, US-ASCII and
// ISO-8859-1, as go-message's own header decoding without a charset
// package); an undecodable name is kept as written.
func decodeWords(s string) string {
	if !strings.Contains(s, "=?") {
		return s
	}
	if d, err := new(mime.WordDecoder).DecodeHeader(s); err == nil {
		return d
	}
	return s
}

// address is one ENVELOPE address: a mailbox with its source route
// (RFC 5322 obs-route, "@relay.example"), or a group marker (group
// name in Mailbox, no Host; the end of a group is all empty).
type address struct {
	Name, Route, Mailbox, Host string
}

// Addr is "mailbox@host".
func (a address) Addr() string {
	if a.Host == "" {
		return a.Mailbox
	}
	return a.Mailbox + "@" + a.Host
}

// routeText writes an obs-route ("@a,@b") as ENVELOPE shows it.
func routeText(toks []addrToken) string {
	var b strings.Builder
	for _, t := range toks {
		switch {
		case t.special == '@':
			b.WriteByte('@')
		case t.special == ',':
			b.WriteByte(',')
		case t.special == 0:
			b.WriteString(t.text)
		}
	}
	return b.String()
}

// envelopeData is ENVELOPE (RFC 3501 §7.4.2).
type envelopeData struct {
	Date                               time.Time
	Subject                            string
	From, Sender, ReplyTo, To, Cc, Bcc []address
	InReplyTo                          []string
	MessageID                          string
}

// envelope is ENVELOPE from a message's header, with address lists
// that keep groups and source routes, and Sender and Reply-To
// defaulting to From as the RFC requires.
func envelope(h textproto.Header) *envelopeData {
	mh := mail.Header{Header: gomessage.Header{Header: h}}
	env := &envelopeData{}
	env.Date, _ = mh.Date()
	env.Subject, _ = mh.Subject()
	env.InReplyTo, _ = mh.MsgIDList("In-Reply-To")
	env.MessageID, _ = mh.MessageID()
	list := func(key string) []address { return parseAddressList(h.Values(key)) }
	env.From, env.Sender, env.ReplyTo = list("From"), list("Sender"), list("Reply-To")
	env.To, env.Cc, env.Bcc = list("To"), list("Cc"), list("Bcc")
	if len(env.Sender) == 0 {
		env.Sender = env.From
	}
	if len(env.ReplyTo) == 0 {
		env.ReplyTo = env.From
	}
	return env
}

// envelopeOf converts go-imap's envelope (mime.go's message/rfc822
// parts), which has no source routes.
func envelopeOf(e *goimap.Envelope) *envelopeData {
	if e == nil {
		return &envelopeData{}
	}
	conv := func(l []goimap.Address) []address {
		out := make([]address, len(l))
		for i, a := range l {
			out[i] = address{Name: a.Name, Mailbox: a.Mailbox, Host: a.Host}
		}
		return out
	}
	return &envelopeData{Date: e.Date, Subject: e.Subject, From: conv(e.From), Sender: conv(e.Sender),
		ReplyTo: conv(e.ReplyTo), To: conv(e.To), Cc: conv(e.Cc), Bcc: conv(e.Bcc), InReplyTo: e.InReplyTo, MessageID: e.MessageID}
}

// isAddressField reports whether SEARCH FROM, TO, CC, BCC (and HEADER)
// on key also match the parsed addresses.
func isAddressField(key string) bool {
	switch strings.ToLower(key) {
	case "from", "to", "cc", "bcc", "sender", "reply-to":
		return true
	}
	return false
}

// matchAddresses matches pattern (case-insensitively) against the
// addresses of the field key written plainly, "Name <user@host>":
// "user (comment)@host" is found by "user@host", as in Dovecot.
func (c *candidate) matchAddresses(key, pattern string) bool {
	if pattern == "" || !isAddressField(key) {
		return false
	}
	var values []string
	fields := c.fields(key).FieldsByKey(key)
	for fields.Next() {
		values = append(values, fields.Value())
	}
	want := strings.ToLower(pattern)
	for _, a := range parseAddressList(values) {
		plain := a.Mailbox
		if a.Host != "" {
			plain += "@" + a.Host
		}
		if a.Name != "" {
			plain = a.Name + " <" + plain + ">"
		}
		if strings.Contains(strings.ToLower(plain), want) {
			return true
		}
	}
	return false
}

// goEnvelope is e as go-imap's type, for mime.go's message/rfc822 parts
// (source routes are not kept there).
func goEnvelope(e *envelopeData) *goimap.Envelope {
	conv := func(l []address) []goimap.Address {
		out := make([]goimap.Address, len(l))
		for i, a := range l {
			out[i] = goimap.Address{Name: a.Name, Mailbox: a.Mailbox, Host: a.Host}
		}
		return out
	}
	return &goimap.Envelope{Date: e.Date, Subject: e.Subject, From: conv(e.From), Sender: conv(e.Sender),
		ReplyTo: conv(e.ReplyTo), To: conv(e.To), Cc: conv(e.Cc), Bcc: conv(e.Bcc), InReplyTo: e.InReplyTo, MessageID: e.MessageID}
}
