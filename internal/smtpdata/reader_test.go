package smtpdata

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// reference is a go-smtp server on loopback: what its DATA reader hands
// the session is what Reader must return, byte for byte.
type reference struct {
	ln  net.Listener
	got chan []byte
}

func startReference(t testing.TB) *reference {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ref := &reference{ln: ln, got: make(chan []byte, 1)}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &refSession{ref: ref}, nil }))
	srv.Domain = "ref.localhost"
	srv.MaxLineLength = 0
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ref
}

// refSession reports the first message of its connection only: content
// may hold an early end of data and then commands of its own.
type refSession struct {
	ref  *reference
	sent bool
}

func (s *refSession) Reset()                               {}
func (s *refSession) Logout() error                        { return nil }
func (s *refSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *refSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *refSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		b = append(b, "<error>"...)
	}
	if !s.sent {
		s.sent = true
		s.ref.got <- b
	}
	return nil
}

// content sends in as DATA content to the reference server and returns
// what its session read.
func (ref *reference) content(t *testing.T, in []byte) []byte {
	t.Helper()
	c, err := net.Dial("tcp", ref.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	expect := func(code string) {
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("reference server: %v", err)
			}
			if !strings.HasPrefix(line, code) {
				t.Fatalf("reference server said %q, want %s", line, code)
			}
			if line[3] == ' ' {
				return
			}
		}
	}
	expect("220")
	for _, step := range []struct{ cmd, code string }{{"EHLO t", "250"}, {"MAIL FROM:<a@t>", "250"}, {"RCPT TO:<b@t>", "250"}, {"DATA", "354"}} {
		io.WriteString(c, step.cmd+"\r\n")
		expect(step.code)
	}
	c.Write(in)
	select {
	case b := <-ref.got:
		return b
	case <-time.After(10 * time.Second):
		t.Fatalf("reference server read no end of data in %q", in)
		return nil
	}
}

// decodeAll runs Reader over in, reading through a small buffer so that
// state crosses Read calls, and returns the content and the bytes left.
func decodeAll(t *testing.T, in []byte, bufSize int) (content, rest []byte) {
	t.Helper()
	br := bufio.NewReaderSize(&trickle{b: in, n: 7}, 16)
	d := &Reader{R: br}
	var out bytes.Buffer
	buf := make([]byte, bufSize)
	for {
		n, err := d.Read(buf)
		out.Write(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
	}
	rest, _ = io.ReadAll(br)
	return out.Bytes(), rest
}

// trickle returns at most n bytes per Read, as a slow network would.
type trickle struct {
	b []byte
	n int
}

func (r *trickle) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	k := copy(p[:min(len(p), r.n)], r.b)
	r.b = r.b[k:]
	return k, nil
}

// terminator ends the content from any state of the reader: after a
// ".\r" at the start of a line, "\r\n.\r\n" alone does not.
const terminator = "x\r\n.\r\n"

var seeds = []string{
	"",
	"Subject: x\r\n\r\nhello\r\n",
	"..leading dot\r\n.\r\n",
	".\rX\r\n",
	"a\r\r\n.\r\nafter\r\n",
	"bare\n.\nlf\r\n",
	"bare\r.\rcr\r\n",
	"\r\n.\r\r\n",
	"..\r\n...\r\n.x\r\n",
	"x\r\n.\r",
	"line\r\n.\r\nMAIL FROM:<smuggled@t>\r\n",
	"\x00.\r\n",
}

// TestReaderMatchesGoSMTP feeds the same bytes to go-smtp's own DATA
// reader and to Reader: the content must be the same, so a session can
// be read by either without a client seeing a difference.
func TestReaderMatchesGoSMTP(t *testing.T) {
	t.Parallel()
	ref := startReference(t)
	for _, s := range seeds {
		in := []byte(s + terminator)
		want := ref.content(t, in)
		for _, size := range []int{1, 3, 4096} {
			got, _ := decodeAll(t, in, size)
			if !bytes.Equal(got, want) {
				t.Errorf("%q (reads of %d): Reader gave %q, go-smtp %q", in, size, got, want)
			}
		}
	}
}

func FuzzReader(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	ref := startReference(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		in := append(body, terminator...)
		want := ref.content(t, in)
		got, _ := decodeAll(t, in, 5)
		if !bytes.Equal(got, want) {
			t.Errorf("%q: Reader gave %q, go-smtp %q", in, got, want)
		}
	})
}

// TestReaderStopsAtEnd leaves the bytes after the end line unread: they
// are the client's next command.
func TestReaderStopsAtEnd(t *testing.T) {
	t.Parallel()
	got, rest := decodeAll(t, []byte("a\r\n..b\r\n.\r\nQUIT\r\n"), 4096)
	if string(got) != "a\r\n.b\r\n" || string(rest) != "QUIT\r\n" {
		t.Errorf("content %q, rest %q; want %q, %q", got, rest, "a\r\n.b\r\n", "QUIT\r\n")
	}
}

func TestReaderLimit(t *testing.T) {
	t.Parallel()
	in := "0123456789\r\n.\r\nNOOP\r\n"
	for _, tc := range []struct {
		limit int64
		err   error
	}{{12, nil}, {11, ErrTooLarge}, {1, ErrTooLarge}} {
		br := bufio.NewReader(strings.NewReader(in))
		d := &Reader{R: br, Limit: tc.limit}
		b, err := io.ReadAll(d)
		if !errors.Is(err, tc.err) && !(tc.err == nil && err == nil) {
			t.Errorf("limit %d: %q, %v; want error %v", tc.limit, b, err, tc.err)
			continue
		}
		if tc.err != nil {
			if err := d.Drain(); err != nil {
				t.Errorf("limit %d: Drain: %v", tc.limit, err)
			}
			if rest, _ := io.ReadAll(br); string(rest) != "NOOP\r\n" {
				t.Errorf("limit %d: after Drain %q is left, want the next command", tc.limit, rest)
			}
		}
	}
}

func TestReaderLineLimit(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in  string
		err error
	}{
		{strings.Repeat("x", 8) + "\r\n.\r\n", nil},
		{strings.Repeat("x", 9) + "\r\n.\r\n", ErrLineTooLong},
		{"ok\r\n" + strings.Repeat("x", 20), ErrLineTooLong},
	} {
		d := &Reader{R: bufio.NewReader(strings.NewReader(tc.in)), LineLimit: 10}
		_, err := io.ReadAll(d)
		if err != tc.err {
			t.Errorf("%q: error %v, want %v", tc.in, err, tc.err)
		}
		if _, again := d.Read(make([]byte, 10)); tc.err != nil && again != tc.err {
			t.Errorf("%q: the error did not stay: %v", tc.in, again)
		}
	}
}

func TestReaderTapSeesRawBytes(t *testing.T) {
	t.Parallel()
	var raw bytes.Buffer
	in := "a\r\n..b\r\n.\rX\r\n.\r\n"
	d := &Reader{R: bufio.NewReader(strings.NewReader(in + "QUIT\r\n")), Tap: func(b []byte) { raw.Write(b) }}
	io.ReadAll(d)
	if raw.String() != in {
		t.Errorf("tap saw %q, want %q", raw.String(), in)
	}
}

// BenchmarkReader decodes a 100 KB message of 78-byte lines, some of them
// dot-stuffed, as the relay does for DATA on a connection without TLS.
func BenchmarkReader(b *testing.B) {
	b.ReportAllocs()
	benchDecode(b, func(br *bufio.Reader) io.Reader { return &Reader{R: br, LineLimit: 1000, Limit: 1 << 20} })
}

// BenchmarkTextprotoDotReader is the same work done one byte per call,
// as net/textproto's reader (and go-smtp's, which is a copy of it) does:
// the figure Reader is measured against.
func BenchmarkTextprotoDotReader(b *testing.B) {
	benchDecode(b, func(br *bufio.Reader) io.Reader { return textproto.NewReader(br).DotReader() })
}

// benchDecode reads benchMessage through the DATA reader that decoder
// makes, once per iteration.
func benchDecode(b *testing.B, decoder func(*bufio.Reader) io.Reader) {
	in := benchMessage()
	src := bytes.NewReader(in)
	br := bufio.NewReaderSize(src, 64<<10)
	out := make([]byte, 32<<10)
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		src.Reset(in)
		br.Reset(src)
		d := decoder(br)
		for {
			_, err := d.Read(out)
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	}
}

// benchMessage is 100 KB of DATA content as sent: 78-byte lines, every
// other one dot-stuffed, and the end line.
func benchMessage() []byte {
	var msg bytes.Buffer
	for msg.Len() < 100<<10 {
		msg.WriteString("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 some text\r\n")
		msg.WriteString("..a line that started with a dot\r\n")
	}
	return append(msg.Bytes(), ".\r\n"...)
}
