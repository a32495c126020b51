package imap

import (
	"bufio"
	"bytes"
	"io"
	"strings"

	goimap "github.com/emersion/go-imap/v2"
	gomessage "github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"

	"mailgate/internal/mimetree"
)

// The FETCH items and SEARCH keys that look inside a message's MIME
// structure all read one mimetree.Tree (linear time, nesting capped at
// mimetree.MaxDepth), so BODYSTRUCTURE, BODY[part], BINARY[part] and
// SEARCH agree on where every part begins and ends. imapserver's own
// Extract* functions are only used on one entity's bytes, never to walk
// parts (their multipart readers nest, quadratic in the depth).

// bodyStructure is BODYSTRUCTURE (and BODY) of the entity p.
func bodyStructure(data []byte, p *mimetree.Part) goimap.BodyStructure {
	h := gomessage.Header{Header: p.Header}
	if p.Multipart() {
		bs := &goimap.BodyStructureMultiPart{Subtype: p.Subtype}
		for _, c := range p.Children {
			bs.Children = append(bs.Children, bodyStructure(data, c))
		}
		bs.Extended = &goimap.BodyStructureMultiPartExt{Params: p.Params, Disposition: disposition(h),
			Language: language(h), Location: h.Get("Content-Location")}
		return bs
	}
	body := p.Body(data)
	bs := &goimap.BodyStructureSinglePart{Type: p.Type, Subtype: p.Subtype, Params: p.Params,
		ID: h.Get("Content-Id"), Description: h.Get("Content-Description"),
		Encoding: h.Get("Content-Transfer-Encoding"), Size: uint32(min(len(body), 1<<32-1))}
	switch {
	case p.Capped:
		// A multipart or message past the limits is reported as what it is
		// to us, opaque data: a multipart without parts is not valid
		// BODYSTRUCTURE syntax.
		bs.Type, bs.Subtype = "application", "octet-stream"
	case p.Message != nil:
		bs.MessageRFC822 = &goimap.BodyStructureMessageRFC822{
			Envelope:      goEnvelope(envelope(p.Message.Header)),
			BodyStructure: bodyStructure(data, p.Message),
			NumLines:      int64(p.Lines()),
		}
	case p.Type == "text":
		bs.Text = &goimap.BodyStructureText{NumLines: int64(p.Lines())}
	}
	bs.Extended = &goimap.BodyStructureSinglePartExt{Disposition: disposition(h), Language: language(h),
		Location: h.Get("Content-Location")}
	return bs
}

func disposition(h gomessage.Header) *goimap.BodyStructureDisposition {
	v, params, _ := h.ContentDisposition()
	if v == "" {
		return nil
	}
	return &goimap.BodyStructureDisposition{Value: v, Params: params}
}

func language(h gomessage.Header) []string {
	v := h.Get("Content-Language")
	if v == "" {
		return nil
	}
	l := strings.Split(v, ",")
	for i := range l {
		l[i] = strings.TrimSpace(l[i])
	}
	return l
}

// findPart resolves an IMAP part number (RFC 9051 6.4.5): the parts of a
// multipart count from 1; part 1 of a message that is not multipart is
// its body; the parts of a message/rfc822 part are those of the message
// inside it. nil when there is no such part.
func findPart(root *mimetree.Part, path []int) *mimetree.Part {
	p := root
	if !p.Multipart() && len(path) > 0 && path[0] == 1 {
		path = path[1:]
	}
	for _, n := range path {
		if p.Message != nil {
			p = p.Message
		}
		if !p.Multipart() {
			if n != 1 {
				return nil
			}
			continue
		}
		if n < 1 || n > len(p.Children) {
			return nil
		}
		p = p.Children[n-1]
	}
	return p
}

// bodySection is BODY[section] of a message other than BODY[] (which
// fetch.go streams from the file).
func bodySection(data []byte, root *mimetree.Part, bs *goimap.FetchItemBodySection) []byte {
	p := findPart(root, bs.Part)
	if p == nil {
		return nil
	}
	if len(bs.Part) > 0 {
		switch bs.Specifier {
		case goimap.PartSpecifierNone:
			return partial(p.Body(data), bs.Partial)
		case goimap.PartSpecifierMIME:
			return partial(data[p.Start:p.BodyStart], bs.Partial)
		}
		if p.Message != nil {
			p = p.Message // HEADER and TEXT of a message/rfc822 part are its message's
		}
	}
	return partial(entitySection(data[p.Start:p.End], bs), bs.Partial)
}

// entitySection is HEADER, HEADER.FIELDS[.NOT] or TEXT of one entity
// (a message or a message/rfc822 part's message), or the whole entity.
func entitySection(entity []byte, bs *goimap.FetchItemBodySection) []byte {
	br := bufio.NewReader(bytes.NewReader(entity))
	h, err := textproto.ReadHeader(br)
	if err != nil {
		return nil
	}
	var buf bytes.Buffer
	if bs.Specifier != goimap.PartSpecifierText {
		if len(bs.HeaderFields) > 0 {
			keep := map[string]bool{}
			for _, k := range bs.HeaderFields {
				keep[strings.ToLower(k)] = true
			}
			for f := h.Fields(); f.Next(); {
				if !keep[strings.ToLower(f.Key())] {
					f.Del()
				}
			}
		}
		for _, k := range bs.HeaderFieldsNot {
			h.Del(k)
		}
		if textproto.WriteHeader(&buf, h) != nil {
			return nil
		}
	}
	if bs.Specifier == goimap.PartSpecifierNone || bs.Specifier == goimap.PartSpecifierText {
		io.Copy(&buf, br)
	}
	return buf.Bytes()
}

// binarySection is BINARY[section]: the part's content with its
// transfer encoding undone, and nothing else (RFC 3516: no charset
// conversion).
func binarySection(data []byte, root *mimetree.Part, item *goimap.FetchItemBinarySection) []byte {
	if len(item.Part) == 0 {
		return partial(wholeBinary(data), item.Partial) // header and body, no parts walked
	}
	p := findPart(root, item.Part)
	if p == nil {
		return nil
	}
	var cte gomessage.Header
	cte.Set("Content-Transfer-Encoding", p.Header.Get("Content-Transfer-Encoding"))
	e, err := gomessage.New(cte, bytes.NewReader(p.Body(data)))
	if err != nil {
		return partial(p.Body(data), item.Partial) // an unknown encoding: the bytes as they are
	}
	b, err := io.ReadAll(e.Body)
	if err != nil {
		return nil
	}
	return partial(b, item.Partial)
}

// wholeBinary is BINARY[]: the header, then the body with the
// message's own transfer encoding undone (and no charset conversion).
func wholeBinary(data []byte) []byte {
	br := bufio.NewReader(bytes.NewReader(data))
	h, err := textproto.ReadHeader(br)
	if err != nil {
		return nil
	}
	var buf bytes.Buffer
	if textproto.WriteHeader(&buf, h) != nil {
		return nil
	}
	body := io.Reader(br)
	mh := gomessage.Header{Header: h}
	if mt, _, _ := mh.ContentType(); !strings.HasPrefix(mt, "multipart/") {
		var cte gomessage.Header
		cte.Set("Content-Transfer-Encoding", h.Get("Content-Transfer-Encoding"))
		if e, err := gomessage.New(cte, br); err == nil {
			body = e.Body
		}
	}
	if _, err := io.Copy(&buf, body); err != nil {
		return nil
	}
	return buf.Bytes()
}

func partial(b []byte, p *goimap.SectionPartial) []byte {
	if p == nil {
		return b
	}
	if p.Offset > int64(len(b)) {
		return nil
	}
	return b[p.Offset:min(p.Offset+p.Size, int64(len(b)))]
}

// matchText looks for pattern (lower case) in the decoded text parts of
// the entity p, and in header fields when withHeader (SEARCH TEXT). A
// message/rfc822 part is searched as the message it holds; its header
// is part of the outer message's body, so it is searched either way.
func matchText(data []byte, p *mimetree.Part, pattern []byte, withHeader bool) bool {
	h := gomessage.Header{Header: p.Header}
	if withHeader && matchFields(h.Fields(), string(pattern)) {
		return true
	}
	switch {
	case p.Multipart():
		for _, c := range p.Children {
			if matchText(data, c, pattern, withHeader) {
				return true
			}
		}
		return false
	case p.Message != nil:
		return matchText(data, p.Message, pattern, true)
	case p.Capped || (p.Type != "text" && p.Type != "message"):
		return false // past the limits a part is opaque, as in BODYSTRUCTURE
	}
	e, _ := gomessage.New(h, bytes.NewReader(p.Body(data)))
	if e == nil {
		return bytes.Contains(bytes.ToLower(p.Body(data)), pattern)
	}
	return containsFold(e.Body, pattern)
}

// containsFold reads r through and reports whether its lower-cased text
// holds pattern (already lower case).
func containsFold(r io.Reader, pattern []byte) bool {
	body, _ := io.ReadAll(bufio.NewReader(r))
	return bytes.Contains(bytes.ToLower(body), pattern)
}
