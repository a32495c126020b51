package relay

import (
	"bytes"
	"errors"
	"io"
	"os"
	"sync"
	"syscall"

	"mailgate/filters"
	"mailgate/internal/smtpdata"
	"mailgate/queue"
)

// spillAt is the most of one message a session holds in memory. Past it
// the content goes to a file in the spool directory (the same disk the
// spool uses), unlinked at once so that nothing is left after a crash:
// 20 clients sending 24 MB each held 1.14 GB when messages were read
// whole into memory (issue 14). The header section must fit within it,
// because the filters read header fields from memory.
const spillAt = 1 << 20

// content is a message as read: in memory with room before it for the
// Received header and what the filters prepend (a DKIM signature), so
// that a small spooled message is built without copying the content
// again; or, past spillAt, on disk with its first spillAt bytes also in
// memory.
type content struct {
	base []byte   // headroom, then the content (its first spillAt bytes when file is set)
	off  int      // the content in memory is base[off:]
	file *os.File // the whole content once it outgrew spillAt, or nil
	size int64    // the whole content's length
	ends lineEnds // what the line-ending and NUL checks found
}

// bytes returns the content in memory: all of it when it is not on disk.
func (c content) bytes() []byte { return c.base[c.off:] }

// close removes the content's file, if any.
func (c content) close() {
	if c.file != nil {
		c.file.Close()
	}
}

// errHeaderTooLarge refuses a message whose header section does not end
// within spillAt bytes.
var errHeaderTooLarge = reply(552, 5, 3, 4, "Header section too large; keep the header fields of a message within 1 MB")

// message splits the content into the filters' Header and Body; it fails
// when the header section does not end within the part in memory.
func (c content) message() (header []byte, body filters.Body, err error) {
	mem := c.bytes()
	n := filters.HeaderLen(mem)
	if c.file == nil {
		return mem[:n:n], bytes.NewReader(mem[n:]), nil
	}
	if n == len(mem) && !bytes.HasSuffix(mem, []byte("\r\n\r\n")) {
		return nil, nil, errHeaderTooLarge
	}
	return mem[:n:n], io.NewSectionReader(c.file, int64(n), c.size-int64(n)), nil
}

// headroom is the room kept before the content: a Received header with
// TLS and account details and one DKIM signature fit in it.
const headroom = 2048

// withHeaders returns head, prepend and raw in one slice: in place when
// raw is still the content as read (filters may change it) and they fit
// in the headroom, else in a new one. Only for content not on disk.
func (c content) withHeaders(head, prepend, raw []byte) []byte {
	n := len(head) + len(prepend)
	in := c.bytes()
	if n <= c.off && len(raw) == len(in) && len(raw) > 0 && &raw[0] == &in[0] {
		start := c.off - n
		copy(c.base[start:], head)
		copy(c.base[start+len(head):], prepend)
		return c.base[start:]
	}
	full := make([]byte, 0, n+len(raw))
	return append(append(append(full, head...), prepend...), raw...)
}

// chunkSize is the unit content is read in; chunks are pooled, and only
// the final copy of the part in memory is allocated (io.ReadAll's growing
// buffer copied a 100 KB message four times over: 7% of the CPU).
const chunkSize = 32 << 10

var chunks = sync.Pool{New: func() any { return new([chunkSize]byte) }}

// contentReader reads one message's content into a content: chunks in
// memory up to spillAt, then a file in dir.
type contentReader struct {
	dir  string
	mem  []*[chunkSize]byte // full chunks kept in memory
	ch   *[chunkSize]byte   // the chunk being filled
	n    int                // bytes in ch
	c    content
	werr error // writing the file failed: the rest is read and dropped
}

// readContent reads r to its end into a content; past spillAt the content
// goes to an unlinked file in dir ("" is the system's temp directory).
// On any error the content holds no file.
func readContent(r io.Reader, dir string) (content, error) {
	cr := &contentReader{dir: dir, ch: chunks.Get().(*[chunkSize]byte)}
	err := cr.read(r)
	if err == nil {
		err = cr.werr
	}
	c := cr.finish()
	if err != nil {
		c.close()
		c.file = nil
	}
	return c, err
}

func (cr *contentReader) read(r io.Reader) error {
	for {
		if cr.n == chunkSize {
			cr.full()
		}
		k, err := r.Read(cr.ch[cr.n:])
		cr.c.ends.scan(cr.ch[cr.n : cr.n+k])
		cr.n += k
		cr.c.size += int64(k)
		if err == io.EOF {
			cr.c.ends.end()
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// full takes a filled chunk: kept in memory below spillAt, written to the
// file past it.
func (cr *contentReader) full() {
	defer func() { cr.n = 0 }()
	if cr.c.file == nil && len(cr.mem) < spillAt/chunkSize {
		cr.mem = append(cr.mem, cr.ch)
		cr.ch = chunks.Get().(*[chunkSize]byte)
		return
	}
	if cr.c.file == nil && cr.werr == nil {
		cr.werr = cr.spill()
	}
	cr.write(cr.ch[:chunkSize])
}

// spill creates the file and writes the chunks held so far to it.
func (cr *contentReader) spill() error {
	f, err := os.CreateTemp(cr.dir, ".tmp-in-*")
	if err != nil {
		return diskError(err)
	}
	os.Remove(f.Name()) // open, it lives on; closed, nothing is left
	cr.c.file = f
	for _, ch := range cr.mem {
		cr.write(ch[:])
	}
	return cr.werr
}

func (cr *contentReader) write(b []byte) {
	if cr.werr != nil || cr.c.file == nil {
		return
	}
	if _, err := cr.c.file.Write(b); err != nil {
		cr.werr = diskError(err)
	}
}

// diskError turns a full disk into the queue's error (452 4.3.1).
func diskError(err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return queue.ErrDiskFull
	}
	return err
}

// finish writes the last chunk out (when on disk), copies the part in
// memory after the headroom and returns the chunks to the pool.
func (cr *contentReader) finish() content {
	c := cr.c
	if c.file != nil {
		cr.write(cr.ch[:cr.n])
		cr.n = 0
	}
	total := len(cr.mem)*chunkSize + cr.n
	c.base, c.off = make([]byte, headroom+total), headroom
	at := headroom
	for _, ch := range cr.mem {
		at += copy(c.base[at:], ch[:])
		chunks.Put(ch)
	}
	copy(c.base[at:], cr.ch[:cr.n])
	chunks.Put(cr.ch)
	return c
}

// lineEnds checks content as it streams by for a CR not followed by LF,
// an LF not preceded by CR (the raw material of SMTP smuggling, never
// stored or relayed) and NUL.
type lineEnds struct {
	cr   bool // the last byte seen was a CR
	bare bool
	nul  bool
}

func (l *lineEnds) scan(p []byte) {
	if len(p) == 0 {
		return
	}
	if bytes.IndexByte(p, 0) >= 0 {
		l.nul = true
	}
	if l.bare {
		return
	}
	if l.cr {
		if p[0] != '\n' {
			l.bare = true
			return
		}
		p = p[1:]
	}
	l.cr = len(p) > 0 && p[len(p)-1] == '\r'
	if l.cr {
		p = p[:len(p)-1]
	}
	l.bare = smtpdata.HasBareLineEnding(p)
}

// end notes the end of the content: a CR there stands alone.
func (l *lineEnds) end() {
	if l.cr {
		l.bare = true
	}
}
