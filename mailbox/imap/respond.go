package imap

import (
	"mime"
	"slices"
	"strconv"
	"strings"
	"time"

	goimap "github.com/emersion/go-imap/v2"
)

// resp builds response text: the encoders for IMAP's data forms.
type resp struct {
	b    []byte
	utf8 bool // UTF8=ACCEPT or IMAP4rev2 enabled: 8-bit text may be quoted
}

func (r *resp) raw(s string) *resp { r.b = append(r.b, s...); return r }
func (r *resp) sp() *resp          { r.b = append(r.b, ' '); return r }
func (r *resp) crlf() *resp        { r.b = append(r.b, '\r', '\n'); return r }
func (r *resp) num(n uint32) *resp {
	r.b = strconv.AppendUint(r.b, uint64(n), 10)
	return r
}
func (r *resp) num64(n int64) *resp { r.b = strconv.AppendInt(r.b, n, 10); return r }

// str writes a string as a quoted string when it can be one, else as
// a literal.
func (r *resp) str(s string) *resp {
	if !r.quotable(s) {
		r.b = append(r.b, '{')
		r.b = strconv.AppendInt(r.b, int64(len(s)), 10)
		r.b = append(append(r.b, "}\r\n"...), s...)
		return r
	}
	r.b = append(r.b, '"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			r.b = append(r.b, '\\')
		}
		r.b = append(r.b, s[i])
	}
	r.b = append(r.b, '"')
	return r
}

func (r *resp) quotable(s string) bool {
	if len(s) > 4096 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '\r' || c == '\n' || c == 0 || c >= 0x80 && !r.utf8 {
			return false
		}
	}
	return true
}

// nstr writes NIL for "".
func (r *resp) nstr(s string) *resp {
	if s == "" {
		return r.raw("NIL")
	}
	return r.str(s)
}

// astr writes an atom when s is one, else a string.
func (r *resp) astr(s string) *resp {
	if isAtom(s) && !strings.EqualFold(s, "NIL") {
		return r.raw(s)
	}
	return r.str(s)
}

func isAtom(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || strings.IndexByte(`(){%*"\]`, c) >= 0 {
			return false
		}
	}
	return true
}

// mailbox writes a mailbox name: modified UTF-7 unless the client
// enabled UTF-8 names.
func (r *resp) mailbox(name string) *resp {
	if strings.EqualFold(name, "INBOX") {
		return r.raw("INBOX")
	}
	if r.utf8 {
		return r.str(strings.ReplaceAll(name, "&", "&-"))
	}
	return r.str(encodeMUTF7(name))
}

// flags writes a parenthesised flag list.
func (r *resp) flags(fs []goimap.Flag) *resp {
	r.b = append(r.b, '(')
	for i, f := range fs {
		if i > 0 {
			r.b = append(r.b, ' ')
		}
		r.b = append(r.b, f...)
	}
	r.b = append(r.b, ')')
	return r
}

// date writes an INTERNALDATE.
func (r *resp) date(t time.Time) *resp {
	return r.raw(`"` + t.Format("02-Jan-2006 15:04:05 -0700") + `"`)
}

// literalHead writes "{N}" CRLF (or "~{N}" for literal8).
func (r *resp) literalHead(n int64, binary bool) *resp {
	if binary {
		r.b = append(r.b, '~')
	}
	r.b = append(r.b, '{')
	r.b = strconv.AppendInt(r.b, n, 10)
	r.b = append(r.b, "}\r\n"...)
	return r
}

// envelope writes an ENVELOPE.
func (r *resp) envelope(e *envelopeData) *resp {
	r.raw("(")
	if e.Date.IsZero() {
		r.raw("NIL")
	} else {
		r.str(e.Date.Format("Mon, 02 Jan 2006 15:04:05 -0700"))
	}
	r.sp().nstr(mime.QEncoding.Encode("utf-8", e.Subject))
	sender, replyTo := e.Sender, e.ReplyTo
	if sender == nil {
		sender = e.From
	}
	if replyTo == nil {
		replyTo = e.From
	}
	for _, l := range [][]address{e.From, sender, replyTo, e.To, e.Cc, e.Bcc} {
		r.sp().addresses(l)
	}
	r.sp()
	if len(e.InReplyTo) > 0 {
		r.str("<" + strings.Join(e.InReplyTo, "> <") + ">")
	} else {
		r.raw("NIL")
	}
	r.sp()
	if e.MessageID != "" {
		r.str("<" + e.MessageID + ">")
	} else {
		r.raw("NIL")
	}
	return r.raw(")")
}

func (r *resp) addresses(l []address) *resp {
	if len(l) == 0 {
		return r.raw("NIL")
	}
	r.raw("(")
	for i, a := range l {
		if i > 0 {
			r.sp()
		}
		r.raw("(").nstr(mime.QEncoding.Encode("utf-8", a.Name)).sp().nstr(a.Route).sp()
		r.nstr(a.Mailbox).sp().nstr(a.Host).raw(")")
	}
	return r.raw(")")
}

// bodyStructure writes BODY (extended false) or BODYSTRUCTURE.
func (r *resp) bodyStructure(bs goimap.BodyStructure, extended bool) *resp {
	r.raw("(")
	switch bs := bs.(type) {
	case *goimap.BodyStructureSinglePart:
		r.singlePart(bs, extended)
	case *goimap.BodyStructureMultiPart:
		r.multiPart(bs, extended)
	}
	return r.raw(")")
}

func (r *resp) singlePart(bs *goimap.BodyStructureSinglePart, extended bool) {
	r.str(bs.Type).sp().str(bs.Subtype).sp().params(bs.Params).sp()
	r.nstr(bs.ID).sp().nstr(bs.Description).sp()
	enc := strings.ToLower(bs.Encoding) // Outlook for iOS chokes on upper case
	if enc == "" {
		enc = "7bit"
	}
	r.str(enc).sp().num(bs.Size)
	if msg := bs.MessageRFC822; msg != nil {
		r.sp().envelope(envelopeOf(msg.Envelope)).sp().bodyStructure(msg.BodyStructure, extended).sp().num64(msg.NumLines)
	} else if bs.Text != nil {
		r.sp().num64(bs.Text.NumLines)
	}
	if !extended {
		return
	}
	ext := bs.Extended
	if ext == nil {
		ext = &goimap.BodyStructureSinglePartExt{}
	}
	r.raw(" NIL ").disposition(ext.Disposition).sp().language(ext.Language).sp().nstr(ext.Location)
}

func (r *resp) multiPart(bs *goimap.BodyStructureMultiPart, extended bool) {
	for _, child := range bs.Children {
		r.bodyStructure(child, extended) // no SP between parts (RFC 3501 body-type-mpart)
	}
	r.sp().str(bs.Subtype)
	if !extended {
		return
	}
	ext := bs.Extended
	if ext == nil {
		ext = &goimap.BodyStructureMultiPartExt{}
	}
	r.sp().params(ext.Params).sp().disposition(ext.Disposition).sp().language(ext.Language).sp().nstr(ext.Location)
}

func (r *resp) params(p map[string]string) *resp {
	if len(p) == 0 {
		return r.raw("NIL")
	}
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	r.raw("(")
	for i, k := range keys {
		if i > 0 {
			r.sp()
		}
		r.str(k).sp().str(p[k])
	}
	return r.raw(")")
}

func (r *resp) disposition(d *goimap.BodyStructureDisposition) *resp {
	if d == nil {
		return r.raw("NIL")
	}
	return r.raw("(").str(d.Value).sp().params(d.Params).raw(")")
}

func (r *resp) language(l []string) *resp {
	if len(l) == 0 {
		return r.raw("NIL")
	}
	r.raw("(")
	for i, s := range l {
		if i > 0 {
			r.sp()
		}
		r.str(s)
	}
	return r.raw(")")
}

// section writes a section spec's part numbers ("1.2").
func (r *resp) section(part []int) *resp {
	for i, p := range part {
		if i > 0 {
			r.raw(".")
		}
		r.num(uint32(p))
	}
	return r
}
