package mailbox

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"

	"mailgate/internal/rawfile"
)

// IMAP system flags, as the store's API spells them.
const (
	FlagSeen     = `\Seen`
	FlagAnswered = `\Answered`
	FlagFlagged  = `\Flagged`
	FlagDeleted  = `\Deleted`
	FlagDraft    = `\Draft`
)

// maildirFlags maps IMAP system flags to the Maildir info letters that
// mutt and Dovecot use (https://cr.yp.to/proto/maildir.html).
var maildirFlags = []struct {
	flag   string
	letter byte
}{
	{FlagDraft, 'D'}, {FlagFlagged, 'F'}, {FlagAnswered, 'R'}, {FlagSeen, 'S'}, {FlagDeleted, 'T'},
}

// letterOf returns the Maildir letter of a system flag (case-insensitive),
// or 0 for a keyword.
func letterOf(flag string) byte {
	for _, f := range maildirFlags {
		if strings.EqualFold(f.flag, flag) {
			return f.letter
		}
	}
	return 0
}

// flagsOf turns Maildir info letters plus keywords into IMAP flags. Unknown
// letters (Dovecot keyword letters, P for passed) stay on disk untouched
// but are not shown.
func flagsOf(info string, keywords []string) []string {
	out := make([]string, 0, len(info)+len(keywords))
	for _, f := range maildirFlags {
		if strings.IndexByte(info, f.letter) >= 0 {
			out = append(out, f.flag)
		}
	}
	return append(out, keywords...)
}

// sortInfo returns the letters in ASCII order, without duplicates, as the
// Maildir specification requires.
func sortInfo(info string) string {
	b := []byte(info)
	sort.Slice(b, func(i, j int) bool { return b[i] < b[j] })
	out := b[:0]
	for i, c := range b {
		if i == 0 || c != b[i-1] {
			out = append(out, c)
		}
	}
	return string(out)
}

// splitName splits a Maildir file name into its unique base and the info
// letters after ":2,".
func splitName(name string) (base, info string) {
	if i := strings.Index(name, ":2,"); i >= 0 {
		return name[:i], name[i+3:]
	}
	if i := strings.IndexByte(name, ':'); i >= 0 {
		return name[:i], ""
	}
	return name, ""
}

// usableName reports whether a directory entry can be a message: no dot
// files, no control characters or tabs (which the index format uses).
func usableName(name string) bool {
	if name == "" || name[0] == '.' {
		return false
	}
	for i := 0; i < len(name); i++ {
		if name[i] < 0x20 || name[i] == 0x7f {
			return false
		}
	}
	return true
}

// uniqueNames makes Maildir base names: time, counter, pid and host, as
// the Maildir specification suggests; unique within this machine.
type uniqueNames struct {
	host    string
	pid     int
	counter atomic.Uint64
}

func newUniqueNames() *uniqueNames {
	h, err := os.Hostname()
	if err != nil || h == "" {
		h = "localhost"
	}
	h = strings.NewReplacer("/", `\057`, ":", `\072`, ",", `\054`).Replace(h)
	return &uniqueNames{host: h, pid: os.Getpid()}
}

func (u *uniqueNames) next(sec, usec int64) string {
	return fmt.Sprintf("%d.M%dP%dQ%d.%s", sec, usec, u.pid, u.counter.Add(1), u.host)
}

// writeTmp copies r into dir/tmp/name with CRLF line endings (IMAP sizes
// and literals are counted in CRLF octets) and fsyncs it. It returns the
// stored size. limit < 0 means no limit; past limit, errTooBig. The file
// is always a new one (O_EXCL): a message's inode is never shared with
// another message, so a session reading an expunged message through an
// open descriptor keeps reading exactly its bytes.
func writeTmp(dir, name string, r io.Reader, limit int64) (int64, error) {
	p := filepath.Join(dir, "tmp", name)
	f, err := rawfile.Open(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, err
	}
	_, raw := r.(Binary)
	cw := &crlfWriter{w: bufio.NewWriterSize(f, 16<<10), limit: limit, raw: raw}
	_, err = io.Copy(cw, r)
	if err == nil {
		err = cw.finish()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(p)
		return 0, err
	}
	return cw.n, nil
}

// Binary marks message data that is stored exactly as sent, line
// endings included: an IMAP APPEND with a literal8 (RFC 3516), whose
// binary parts would change size (BINARY.SIZE) if bare LF became CRLF.
type Binary struct{ io.Reader }

// crlfWriter turns bare LF and bare CR into CRLF (unless raw).
type crlfWriter struct {
	w     *bufio.Writer
	prev  byte
	n     int64
	limit int64
	raw   bool
}

var errTooBig = fmt.Errorf("message too big")

func (c *crlfWriter) Write(p []byte) (int, error) {
	n := len(p)
	if c.raw {
		c.w.Write(p)
		c.n += int64(len(p))
		p = p[:0]
	}
	for _, b := range p {
		if c.prev == '\r' && b != '\n' {
			c.put('\n')
		}
		if b == '\n' && c.prev != '\r' {
			c.put('\r')
		}
		c.put(b)
		c.prev = b
	}
	if c.limit >= 0 && c.n > c.limit {
		return 0, errTooBig
	}
	return n, nil
}

func (c *crlfWriter) put(b byte) {
	c.w.WriteByte(b)
	c.n++
}

func (c *crlfWriter) finish() error {
	if c.prev == '\r' && !c.raw {
		c.put('\n')
	}
	if c.limit >= 0 && c.n > c.limit {
		return errTooBig
	}
	return c.w.Flush()
}

// syncDir fsyncs a directory so that a rename into it survives a crash
// (the step chasquid and maddy leave out).
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// makeMaildir creates dir with cur, new and tmp.
func makeMaildir(dir string) error {
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return err
		}
	}
	return nil
}
