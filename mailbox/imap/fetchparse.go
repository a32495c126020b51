package imap

import (
	"fmt"
	"strconv"
	"strings"

	goimap "github.com/emersion/go-imap/v2"
)

// FETCH's data items (RFC 3501 §6.4.5, RFC 3516 BINARY, RFC 7162 MODSEQ)
// and modifiers (CHANGEDSINCE and VANISHED: condstore.go).

// fetchRequest is a parsed FETCH: the items as go-imap's options (the
// session's vocabulary), and how the reply names some of them.
type fetchRequest struct {
	opts *goimap.FetchOptions
	// names holds the reply name of sections asked for by an RFC822
	// item ("RFC822.HEADER" for BODY.PEEK[HEADER]).
	names map[*goimap.FetchItemBodySection]string
	// body and bodyStructure: BODY and BODYSTRUCTURE, which share one
	// option.
	body, bodyStructure bool
	// changedSince: CHANGEDSINCE was given (opts.ChangedSince holds it);
	// vanished: and QRESYNC's VANISHED (condstore.go).
	changedSince, vanished bool
	// partial: UID FETCH's PARTIAL modifier (RFC 9394 §3.3), the
	// positions among the messages of the set (after CHANGEDSINCE).
	partial *partialRange
}

// parseFetch reads SP sequence-set SP (items or macro).
func parseFetch(args *argReader, uid bool) (goimap.NumSet, *fetchRequest, error) {
	if err := args.sp(); err != nil {
		return nil, nil, fmt.Errorf("FETCH needs a sequence set and data items")
	}
	set, err := args.numSet(uid)
	if err != nil {
		return nil, nil, err
	}
	if err := args.sp(); err != nil {
		return nil, nil, fmt.Errorf("FETCH needs data items after the sequence set")
	}
	req := &fetchRequest{opts: &goimap.FetchOptions{UID: uid}, names: map[*goimap.FetchItemBodySection]string{}}
	if args.peek("(") {
		err = args.list(func() error { return req.item(args) })
	} else {
		err = req.item(args)
	}
	if err == nil && !args.end() {
		err = req.modifiers(args, uid)
	}
	if req.body || req.bodyStructure {
		req.opts.BodyStructure = &goimap.FetchItemBodyStructure{Extended: req.bodyStructure}
	}
	return set, req, err
}

// item reads one data item (or macro).
func (req *fetchRequest) item(args *argReader) error {
	w, err := args.word()
	if err != nil {
		return err
	}
	o := req.opts
	up := strings.ToUpper(w)
	switch up {
	case "ALL", "FAST", "FULL":
		o.Flags, o.InternalDate, o.RFC822Size = true, true, true
		o.Envelope = up != "FAST"
		req.body = req.body || up == "FULL"
	case "UID":
		o.UID = true
	case "FLAGS":
		o.Flags = true
	case "INTERNALDATE":
		o.InternalDate = true
	case "RFC822.SIZE":
		o.RFC822Size = true
	case "MODSEQ":
		o.ModSeq = true
	case "ENVELOPE":
		o.Envelope = true
	case "BODYSTRUCTURE":
		req.bodyStructure = true
	case "BODY":
		req.body = true
	case "RFC822", "RFC822.HEADER", "RFC822.TEXT":
		bs := &goimap.FetchItemBodySection{}
		switch up {
		case "RFC822.HEADER":
			bs.Specifier, bs.Peek = goimap.PartSpecifierHeader, true
		case "RFC822.TEXT":
			bs.Specifier = goimap.PartSpecifierText
		}
		o.BodySection = append(o.BodySection, bs)
		req.names[bs] = up
	default:
		return req.sectionItem(up, w)
	}
	return nil
}

// sectionItem reads BODY[...], BODY.PEEK[...], BINARY[...],
// BINARY.PEEK[...] and BINARY.SIZE[...], with a partial "<o.l>".
func (req *fetchRequest) sectionItem(up, w string) error {
	open := strings.IndexByte(up, '[')
	closeAt := strings.LastIndexByte(up, ']')
	if open < 0 || closeAt < open {
		return fmt.Errorf("unknown data item %q", w)
	}
	name, spec, tail := up[:open], w[open+1:closeAt], up[closeAt+1:]
	partial, err := parsePartial(tail)
	if err != nil {
		return err
	}
	o := req.opts
	switch name {
	case "BODY", "BODY.PEEK":
		bs, err := parseSection(spec)
		if err != nil {
			return err
		}
		bs.Peek, bs.Partial = name == "BODY.PEEK", partial
		o.BodySection = append(o.BodySection, bs)
	case "BINARY", "BINARY.PEEK", "BINARY.SIZE":
		part, err := parsePart(spec)
		if err != nil {
			return err
		}
		if name == "BINARY.SIZE" {
			if partial != nil {
				return fmt.Errorf("BINARY.SIZE takes no partial")
			}
			o.BinarySectionSize = append(o.BinarySectionSize, &goimap.FetchItemBinarySectionSize{Part: part})
			return nil
		}
		o.BinarySection = append(o.BinarySection, &goimap.FetchItemBinarySection{Part: part, Peek: name == "BINARY.PEEK", Partial: partial})
	default:
		return fmt.Errorf("unknown data item %q", w)
	}
	return nil
}

// parseSection reads a section-spec: part numbers, then HEADER,
// HEADER.FIELDS (...), HEADER.FIELDS.NOT (...), TEXT or MIME.
func parseSection(spec string) (*goimap.FetchItemBodySection, error) {
	bs := &goimap.FetchItemBodySection{}
	rest := spec
	for rest != "" && rest[0] >= '0' && rest[0] <= '9' {
		end := strings.IndexByte(rest, '.')
		if end < 0 {
			end = len(rest)
		}
		n, err := strconv.ParseUint(rest[:end], 10, 31)
		if err != nil || n == 0 {
			return nil, fmt.Errorf("bad section part %q", rest[:end])
		}
		bs.Part = append(bs.Part, int(n))
		rest = strings.TrimPrefix(rest[end:], ".")
	}
	word, list, _ := strings.Cut(rest, " ")
	switch strings.ToUpper(word) {
	case "":
	case "HEADER":
		bs.Specifier = goimap.PartSpecifierHeader
	case "TEXT":
		bs.Specifier = goimap.PartSpecifierText
	case "MIME":
		if len(bs.Part) == 0 {
			return nil, fmt.Errorf("MIME needs a part number, such as BODY[1.MIME]")
		}
		bs.Specifier = goimap.PartSpecifierMIME
	case "HEADER.FIELDS", "HEADER.FIELDS.NOT":
		bs.Specifier = goimap.PartSpecifierHeader
		fields, err := headerList(list)
		if err != nil {
			return nil, err
		}
		if strings.EqualFold(word, "HEADER.FIELDS") {
			bs.HeaderFields = fields
		} else {
			bs.HeaderFieldsNot = fields
		}
		return bs, nil
	default:
		return nil, fmt.Errorf("unknown section %q", rest)
	}
	if list != "" {
		return nil, fmt.Errorf("unexpected %q in the section", list)
	}
	return bs, nil
}

// headerList reads "(" header-fld-name *(SP header-fld-name) ")".
func headerList(s string) ([]string, error) {
	cmd := &command{text: []string{"t X " + s}}
	args := cmd.args()
	args.s = strings.TrimPrefix(args.s, " ")
	var out []string
	err := args.list(func() error {
		f, err := args.astring()
		out = append(out, f)
		return err
	})
	if err != nil || len(out) == 0 || !args.end() {
		return nil, fmt.Errorf("HEADER.FIELDS needs a list of field names, such as (From Subject)")
	}
	return out, nil
}

// parsePart reads BINARY's section: part numbers only.
func parsePart(spec string) ([]int, error) {
	if spec == "" {
		return nil, nil
	}
	var part []int
	for _, p := range strings.Split(spec, ".") {
		n, err := strconv.ParseUint(p, 10, 31)
		if err != nil || n == 0 {
			return nil, fmt.Errorf("BINARY takes part numbers only, such as BINARY[1.2]")
		}
		part = append(part, int(n))
	}
	return part, nil
}

// parsePartial reads "<offset.length>" (or nothing).
func parsePartial(tail string) (*goimap.SectionPartial, error) {
	if tail == "" {
		return nil, nil
	}
	if !strings.HasPrefix(tail, "<") || !strings.HasSuffix(tail, ">") {
		return nil, fmt.Errorf("a partial is written <offset.length>")
	}
	off, n, ok := strings.Cut(tail[1:len(tail)-1], ".")
	o, err1 := strconv.ParseUint(off, 10, 32)
	l, err2 := strconv.ParseUint(n, 10, 32)
	if !ok || err1 != nil || err2 != nil || l == 0 {
		return nil, fmt.Errorf("a partial is written <offset.length>, with a length above 0")
	}
	return &goimap.SectionPartial{Offset: int64(o), Size: int64(l)}, nil
}
