package imap

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"strings"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-message/textproto"

	"mailgate/internal/mimetree"
	"mailgate/mailbox"
)

func (s *session) Fetch(w *fetchWriter, numSet goimap.NumSet, options *goimap.FetchOptions) error {
	s.srv.metrics.commands.WithLabelValues("FETCH").Inc()
	v := s.sel
	ts := v.resolve(numSet)
	if w.req != nil && w.req.partial != nil && len(ts) > 0 {
		var err error
		if ts, err = s.partialTargets(w.req.partial, ts, options.ChangedSince); err != nil {
			return s.imapError(err)
		}
	}
	if len(ts) == 0 {
		return nil
	}
	if !v.readOnly && setsSeen(options) {
		if _, err := s.store().SetFlags(s.account, v.name, uidsOf(ts), mailbox.FlagsAdd, []string{mailbox.FlagSeen}); err != nil {
			return s.imapError(err)
		}
		copied := *options
		copied.Flags = true
		copied.ModSeq = copied.ModSeq || s.c.condstore()
		options = &copied
	}
	list, err := s.store().Infos(s.account, v.name, uidsOf(ts))
	if err != nil {
		return s.imapError(err)
	}
	if options.Flags {
		// Keywords another session added are announced before the
		// FETCH responses that show them.
		if err := v.writeFlagsUpdate(&updateWriter{c: w.c}, list, nil); err != nil {
			return err
		}
	}
	infos := make(map[uint32]*mailbox.MessageInfo, len(list))
	for i := range list {
		infos[list[i].UID] = &list[i]
	}
	s.startLong()
	gone := false
	for _, t := range ts {
		if s.abandoned("FETCH") {
			return errAbandoned
		}
		info := infos[t.uid]
		if info == nil {
			gone = true
			continue
		}
		if info.ModSeq <= options.ChangedSince {
			continue // CHANGEDSINCE (condstore.go)
		}
		if options.Flags {
			v.msgs[t.seq-1].flags, v.msgs[t.seq-1].modseq = strings.Join(info.Flags, " "), info.ModSeq
		}
		fetched, err := s.fetchOne(w, t, info, options)
		if errors.Is(err, errShortFile) {
			s.log.Error("imap FETCH: message file shorter than its size; closing the connection",
				"account", s.account, "folder", v.name, "uid", t.uid, "size", info.Size)
			s.c.Close()
		}
		if err != nil {
			return err
		}
		gone = gone || !fetched
	}
	if gone {
		return errExpungeIssued
	}
	return nil
}

// partialTargets keeps the messages at UID FETCH's PARTIAL positions
// (RFC 9394 §3.3) among those of the set that still exist and changed
// since CHANGEDSINCE, which is applied first so that a client can page
// through what changed (§3.4). It runs before FETCH sets \Seen, which
// only the messages of the page get.
func (s *session) partialTargets(r *partialRange, ts []target, changedSince uint64) ([]target, error) {
	list, err := s.store().Infos(s.account, s.sel.name, uidsOf(ts))
	if err != nil {
		return nil, err
	}
	modseqs := make(map[uint32]uint64, len(list))
	for _, m := range list {
		modseqs[m.UID] = m.ModSeq
	}
	var live []target
	for _, t := range ts {
		if ms, ok := modseqs[t.uid]; ok && ms > changedSince {
			live = append(live, t)
		}
	}
	return pickRange(r, live), nil
}

// errExpungeIssued answers a FETCH that named messages another session
// expunged since this one last heard of it (RFC 9051 §7.1: the session
// still shows them until its next EXPUNGE). The messages that still
// exist were sent; for the others there is no data rather than empty
// data, and the client learns why. imaptest accepts the text ("no
// longer exist") as Zimbra's.
var errExpungeIssued = &goimap.Error{Type: goimap.StatusResponseTypeNo, Code: "EXPUNGEISSUED",
	Text: "Some of the requested messages no longer exist: another session expunged them"}

// setsSeen reports whether a FETCH reads a body without PEEK.
func setsSeen(o *goimap.FetchOptions) bool {
	for _, bs := range o.BodySection {
		if !bs.Peek {
			return true
		}
	}
	for _, bs := range o.BinarySection {
		if !bs.Peek {
			return true
		}
	}
	return false
}

// needsFile reports whether a FETCH needs more of the message than its
// header section.
func needsFile(o *goimap.FetchOptions) bool {
	if o.BodyStructure != nil || len(o.BinarySection) > 0 || len(o.BinarySectionSize) > 0 {
		return true
	}
	for _, bs := range o.BodySection {
		if !headerOnly(bs) {
			return true
		}
	}
	return false
}

// headerOnly is BODY[HEADER], BODY[HEADER.FIELDS (...)] or
// BODY[HEADER.FIELDS.NOT (...)] of the message itself, which the header
// section alone answers.
func headerOnly(bs *goimap.FetchItemBodySection) bool {
	return len(bs.Part) == 0 && bs.Specifier == goimap.PartSpecifierHeader
}

// content returns what fetchOne reads: the message file when the items
// need it, or only the header section from the store's cache (ENVELOPE
// and header sections, what clients fetch when they list a folder). A
// nil reader means no content is needed or the message is gone.
func (s *session) content(uid uint32, o *goimap.FetchOptions) (r io.ReaderAt, size int64, done func(), err error) {
	done = func() {}
	switch {
	case needsFile(o):
		f, info, err := s.store().OpenMessage(s.account, s.sel.name, uid)
		if err != nil {
			return nil, 0, done, err
		}
		return f, info.Size, func() { f.Close() }, nil
	case o.Envelope || len(o.BodySection) > 0:
		h, err := s.store().Header(s.account, s.sel.name, uid)
		if err != nil {
			return nil, 0, done, err
		}
		return bytes.NewReader(h), int64(len(h)), done, nil
	}
	return nil, 0, done, nil
}

// fetchOne writes one message's FETCH response; fetched is false when
// the message was expunged before its content could be opened (then
// nothing is written: a response without its content would look like an
// empty message).
func (s *session) fetchOne(w *fetchWriter, t target, info *mailbox.MessageInfo, o *goimap.FetchOptions) (fetched bool, err error) {
	r, size, done, err := s.content(t.uid, o)
	if errors.Is(err, mailbox.ErrNoMessage) {
		return false, nil
	}
	if err != nil {
		return false, s.imapError(err)
	}
	defer done()
	return true, s.writeMessage(w, t, info, o, r, size)
}

// writeMessage writes the FETCH response of one message whose content,
// if the items need it, is r.
func (s *session) writeMessage(w *fetchWriter, t target, info *mailbox.MessageInfo, o *goimap.FetchOptions, r io.ReaderAt, size int64) error {
	mw := w.CreateMessage(t.seq)
	mw.WriteUID(goimap.UID(t.uid))
	if o.Flags {
		mw.WriteFlags(toFlags(s.sel.withRecent(t.uid, info.Flags)))
	}
	if o.ModSeq {
		mw.WriteModSeq(info.ModSeq)
	}
	if o.InternalDate {
		mw.WriteInternalDate(info.InternalDate)
	}
	if o.RFC822Size {
		mw.WriteRFC822Size(info.Size)
	}
	if r == nil {
		return mw.Close()
	}
	if err := writeContent(mw, r, size, o); err != nil {
		mw.Close()
		return err
	}
	return mw.Close()
}

// writeContent writes the items that need the message's bytes. Each
// extraction reads its own section reader, so the file is never seeked;
// the items that look at MIME parts share one parsed tree (mime.go).
func writeContent(mw *msgWriter, f io.ReaderAt, size int64, o *goimap.FetchOptions) error {
	open := func() io.Reader { return io.NewSectionReader(f, 0, size) }
	m := &parsedMessage{r: f, size: size}
	if o.Envelope {
		h, err := textproto.ReadHeader(bufio.NewReader(open()))
		if err != nil {
			h = textproto.Header{}
		}
		mw.WriteEnvelope(envelope(h))
	}
	if o.BodyStructure != nil {
		data, tree := m.tree()
		mw.WriteBodyStructure(bodyStructure(data, tree))
	}
	for _, bs := range o.BodySection {
		if err := writeSection(mw, f, size, bs, m); err != nil {
			return err
		}
	}
	for _, bs := range o.BinarySection {
		data, tree := m.tree()
		buf := binarySection(data, tree, bs)
		if err := writeAll(mw.WriteBinarySection(bs, int64(len(buf))), buf); err != nil {
			return err
		}
	}
	for _, bss := range o.BinarySectionSize {
		data, tree := m.tree()
		n := len(binarySection(data, tree, &goimap.FetchItemBinarySection{Part: bss.Part}))
		mw.WriteBinarySectionSize(bss, uint32(min(n, 1<<32-1)))
	}
	return nil
}

// parsedMessage reads a message and parses its MIME tree once, when the
// first item that needs them asks.
type parsedMessage struct {
	r    io.ReaderAt
	size int64
	data []byte
	root *mimetree.Part
}

func (m *parsedMessage) tree() ([]byte, *mimetree.Part) {
	if m.root == nil {
		m.data = make([]byte, m.size)
		n, _ := m.r.ReadAt(m.data, 0)
		m.data = m.data[:n]
		m.root = mimetree.Parse(m.data)
	}
	return m.data, m.root
}

// writeSection streams BODY[] (whole message, optionally partial) from
// the file byte for byte; other sections come from the parsed message.
func writeSection(mw *msgWriter, f io.ReaderAt, size int64, bs *goimap.FetchItemBodySection, m *parsedMessage) error {
	whole := len(bs.Part) == 0 && bs.Specifier == goimap.PartSpecifierNone &&
		len(bs.HeaderFields) == 0 && len(bs.HeaderFieldsNot) == 0
	if !whole {
		data, tree := m.tree()
		buf := bodySection(data, tree, bs)
		if bytes.IndexByte(buf, 0) >= 0 {
			// A literal may not hold NUL (RFC 9051 §4.3): binary content
			// stored from a literal8 APPEND is sent in base64, as Dovecot
			// does; BINARY[] gives it as it is.
			buf = base64Lines(buf)
		}
		return writeAll(mw.WriteBodySection(bs, int64(len(buf))), buf)
	}
	off, n := int64(0), size
	if p := bs.Partial; p != nil {
		off = min(p.Offset, size)
		n = min(p.Size, size-off)
	}
	wc := mw.WriteBodySection(bs, n)
	copied, err := io.Copy(wc, io.NewSectionReader(f, off, n))
	if err == nil && copied < n {
		err = errShortFile
	}
	return errors.Join(err, wc.Close())
}

// errShortFile: a message file held fewer bytes than its recorded size
// after the literal announcing that size was sent. The store never
// shortens a message, so only something outside mailgate can have done
// it; the literal can no longer be completed truthfully, and a client
// would wait forever for the rest of it (as imaptest's clients did when
// expunged files were emptied for reuse), so the connection is closed.
var errShortFile = errors.New("message file is shorter than its recorded size")

func writeAll(wc io.WriteCloser, bufs ...[]byte) error {
	var err error
	for _, b := range bufs {
		if _, werr := wc.Write(b); werr != nil && err == nil {
			err = werr
		}
	}
	return errors.Join(err, wc.Close())
}

// base64Lines encodes b in base64 lines of 76 characters.
func base64Lines(b []byte) []byte {
	enc := base64.StdEncoding.EncodeToString(b)
	var out []byte
	for len(enc) > 76 {
		out = append(append(out, enc[:76]...), "\r\n"...)
		enc = enc[76:]
	}
	return append(append(out, enc...), "\r\n"...)
}
