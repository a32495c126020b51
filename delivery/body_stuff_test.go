package delivery

import (
	"bufio"
	"bytes"
	"net"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"mailgate/internal/smtpdata"
)

// bufConn collects what is written to it.
type bufConn struct {
	net.Conn
	buf bytes.Buffer
}

func (c *bufConn) Write(p []byte) (int, error)      { return c.buf.Write(p) }
func (c *bufConn) SetWriteDeadline(time.Time) error { return nil }

// stuffed is what the DATA content looks like on the wire: writeStuffed,
// then the last CRLF and the terminator through net/textproto's writer,
// as delivery does it.
func stuffed(body []byte) string {
	c := &bufConn{}
	if err := writeStuffed(c, body, time.Second); err != nil {
		panic(err)
	}
	w := textproto.NewWriter(bufio.NewWriter(&c.buf)).DotWriter()
	w.Write([]byte("\r\n"))
	w.Close()
	return c.buf.String()
}

// reference is net/textproto's own dot-stuffing of the whole body.
func reference(body []byte) string {
	var b bytes.Buffer
	w := textproto.NewWriter(bufio.NewWriter(&b)).DotWriter()
	w.Write(body)
	w.Close()
	return b.String()
}

func TestWriteStuffedMatchesTextproto(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("line of text\r\n.dot line\r\n", 8000) // over several 64 KB blocks
	for _, body := range []string{
		"\r\n",
		".\r\n",
		"..\r\n",
		"Subject: x\r\n\r\n.leading\r\n..two\r\n.\r\nend\r\n",
		"a\r\n.\r\n.\r\n",
		"no dots at all\r\n",
		big,
	} {
		b := smtpdata.Normalize([]byte(body))
		if got, want := stuffed(b), reference(b); got != want {
			t.Errorf("body %.40q: sent %.80q, textproto sends %.80q", body, got, want)
		}
	}
	if got := stuffed([]byte("Subject: x\r\n\r\n.\r\nend\r\n")); got != "Subject: x\r\n\r\n..\r\nend\r\n.\r\n" {
		t.Errorf("a lone dot line went out as %q", got)
	}
}
