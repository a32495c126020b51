package imap

import (
	"io"
	"time"

	goimap "github.com/emersion/go-imap/v2"
)

// The writers the session's commands write their untagged responses
// through: FETCH data, mailbox updates (EXISTS, EXPUNGE, FLAGS) and
// MOVE's COPYUID.

// fetchWriter writes the FETCH responses of one command.
type fetchWriter struct {
	c   *conn
	req *fetchRequest // nil for STORE's replies
}

// CreateMessage starts the response of message seq.
func (w *fetchWriter) CreateMessage(seq uint32) *msgWriter {
	m := &msgWriter{w: w, r: w.c.newResp()}
	m.r.raw("* ").num(seq).raw(" FETCH (")
	return m
}

// msgWriter writes one FETCH response. Literals go to the connection as
// they come, so a big BODY[] is never held whole.
type msgWriter struct {
	w     *fetchWriter
	r     *resp
	items int
}

func (m *msgWriter) sep() {
	if m.items > 0 {
		m.r.sp()
	}
	m.items++
}

func (m *msgWriter) WriteUID(uid goimap.UID) {
	m.sep()
	m.r.raw("UID ").num(uint32(uid))
}

func (m *msgWriter) WriteFlags(flags []goimap.Flag) {
	m.sep()
	m.r.raw("FLAGS ").flags(flags)
}

func (m *msgWriter) WriteInternalDate(t time.Time) {
	m.sep()
	m.r.raw("INTERNALDATE ").date(t)
}

func (m *msgWriter) WriteRFC822Size(size int64) {
	m.sep()
	m.r.raw("RFC822.SIZE ").num64(size)
}

func (m *msgWriter) WriteEnvelope(e *envelopeData) {
	m.sep()
	m.r.raw("ENVELOPE ").envelope(e)
}

// WriteBodyStructure writes BODY, BODYSTRUCTURE or both, as asked.
func (m *msgWriter) WriteBodyStructure(bs goimap.BodyStructure) {
	req := m.w.req
	if req.body {
		m.sep()
		m.r.raw("BODY ").bodyStructure(bs, false)
	}
	if req.bodyStructure {
		m.sep()
		m.r.raw("BODYSTRUCTURE ").bodyStructure(bs, true)
	}
}

// WriteBodySection starts BODY[section]<origin> with a literal of size
// bytes, which the caller writes and closes.
func (m *msgWriter) WriteBodySection(bs *goimap.FetchItemBodySection, size int64) io.WriteCloser {
	m.sep()
	if name, ok := m.w.req.names[bs]; ok {
		m.r.raw(name)
	} else {
		m.r.raw("BODY[").section(bs.Part)
		if len(bs.Part) > 0 && bs.Specifier != goimap.PartSpecifierNone {
			m.r.raw(".")
		}
		m.r.raw(string(bs.Specifier))
		if fields, not := bs.HeaderFields, bs.HeaderFieldsNot; len(fields) > 0 || len(not) > 0 {
			list := fields
			if len(fields) > 0 {
				m.r.raw(".FIELDS (")
			} else {
				m.r.raw(".FIELDS.NOT (")
				list = not
			}
			for i, f := range list {
				if i > 0 {
					m.r.sp()
				}
				m.r.astr(f)
			}
			m.r.raw(")")
		}
		m.r.raw("]")
		m.origin(bs.Partial)
	}
	m.r.sp().literalHead(size, false)
	return m.literal()
}

// WriteBinarySection starts BINARY[part]<origin> with a literal8.
func (m *msgWriter) WriteBinarySection(bs *goimap.FetchItemBinarySection, size int64) io.WriteCloser {
	m.sep()
	m.r.raw("BINARY[").section(bs.Part).raw("]")
	m.origin(bs.Partial)
	m.r.sp().literalHead(size, true)
	return m.literal()
}

func (m *msgWriter) origin(p *goimap.SectionPartial) {
	if p != nil {
		m.r.raw("<").num64(p.Offset).raw(">")
	}
}

func (m *msgWriter) WriteBinarySectionSize(bs *goimap.FetchItemBinarySectionSize, size uint32) {
	m.sep()
	m.r.raw("BINARY.SIZE[").section(bs.Part).raw("] ").num(size)
}

// literal sends what is built so far and returns the writer of the
// literal's bytes.
func (m *msgWriter) literal() io.WriteCloser {
	m.w.c.send(m.r)
	m.r.b = m.r.b[:0]
	return literalWriter{m.w.c}
}

type literalWriter struct{ c *conn }

func (l literalWriter) Write(p []byte) (int, error) {
	if err := l.c.writeBytes(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (l literalWriter) Close() error { return nil }

// Close ends the response.
func (m *msgWriter) Close() error {
	m.r.raw(")").crlf()
	return m.w.c.send(m.r)
}

// updateWriter writes what changed in the selected mailbox.
type updateWriter struct {
	c            *conn
	allowExpunge bool
}

func (w *updateWriter) WriteExpunge(seq uint32) error {
	return w.c.write("* " + utoa(seq) + " EXPUNGE")
}

func (w *updateWriter) WriteNumMessages(n uint32) error {
	return w.c.write("* " + utoa(n) + " EXISTS")
}

func (w *updateWriter) WriteNumRecent(n uint32) error {
	if w.c.rev2() {
		return nil
	}
	return w.c.write("* " + utoa(n) + " RECENT")
}

// WriteMailboxFlags writes FLAGS and, in a read-write mailbox, the
// PERMANENTFLAGS that go with them (RFC 9051 §7.3.5).
func (w *updateWriter) WriteMailboxFlags(flags, permanent []goimap.Flag) error {
	r := w.c.newResp()
	r.raw("* FLAGS ").flags(flags).crlf()
	if permanent != nil {
		r.raw("* OK [PERMANENTFLAGS ").flags(permanent).raw("] Permanent flags").crlf()
	}
	return w.c.send(r)
}

// expungeWriter writes EXPUNGE responses; with no conn (CLOSE) it
// writes nothing.
type expungeWriter struct{ c *conn }

func (w *expungeWriter) WriteExpunge(seq uint32) error {
	if w.c == nil {
		return nil
	}
	return w.c.write("* " + utoa(seq) + " EXPUNGE")
}

// moveWriter writes MOVE's untagged COPYUID (RFC 6851) and EXPUNGEs.
type moveWriter struct{ c *conn }

func (w *moveWriter) WriteCopyData(d *goimap.CopyData) error {
	return w.c.write("* OK [COPYUID " + utoa(d.UIDValidity) + " " + d.SourceUIDs.String() + " " +
		d.DestUIDs.String() + "] Moved")
}

func (w *moveWriter) WriteExpunge(seq uint32) error {
	return w.c.write("* " + utoa(seq) + " EXPUNGE")
}
