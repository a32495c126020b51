//go:build linux

package imap

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"mailgate/internal/mimetree"
)

// pairListener hands Serve the server ends of connected Unix socket
// pairs: a connection per fuzz input costs no port, leaves nothing in
// TIME_WAIT, and still has what a TCP connection has (half-close,
// deadlines, a file descriptor to poll).
type pairListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newPairListener() *pairListener {
	return &pairListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *pairListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pairListener) Close() error   { l.once.Do(func() { close(l.done) }); return nil }
func (l *pairListener) Addr() net.Addr { return &net.UnixAddr{Name: "pair", Net: "unix"} }

// dial returns the client end of a new connection to the server.
func (l *pairListener) dial(t testing.TB) *net.UnixConn {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	ends := make([]net.Conn, 2)
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "pair")
		ends[i], err = net.FileConn(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	select {
	case l.conns <- ends[1]:
	case <-l.done:
		t.Fatal("server closed")
	}
	return ends[0].(*net.UnixConn)
}

// FuzzIMAPSession sends arbitrary bytes, then LOGOUT, on a logged-in
// session: the front and literal guard in front of imapserver's parser,
// our session and the store behind it, all in this process so that the
// fuzzer sees their coverage. The session must end once the client has
// sent everything and shut its side (not hang), nothing may panic, and a
// literal is never read as commands: no input may make the folder
// "Keep" disappear by hiding "DELETE Keep" in a literal.
//
// It used to run against the real binary (faults/), where under -fuzz
// each worker built and started its own mailgate, coverage came only
// from the client side (so flaky TLS paths made "new" inputs whose
// minimisation stalled the workers for up to a minute each), and a
// killed worker left its server running.
func FuzzIMAPSession(f *testing.F) {
	for _, s := range []string{
		"a APPEND INBOX {30+}\r\nx1 DELETE Keep\r\nmore bytes..\r\n",
		"a APPEND INBOX {104857601+}\r\nx1 DELETE Keep\r\n",
		"a APPEND INBOX {5}\r\nx1 DELETE Keep\r\n",
		"a APPEND INBOX (\\Seen) {10+}\r\n0123456789\r\nb NOOP",
		"a SELECT INBOX\r\nb FETCH 1:* (BODY[] FLAGS)\r\nc STORE 1 +FLAGS (\\Deleted)\r\nd EXPUNGE",
		"a LIST \"\" *\r\nb STATUS INBOX (MESSAGES UIDNEXT)", "a SEARCH {3+}\r\nabc", "a LOGIN {3+}\r\nabc {3+}\r\ndef",
		"a IDLE\r\nDONE", "a RENAME INBOX Keep", "a ENABLE UTF8=ACCEPT\r\nb CREATE \"\u00e9\"",
		"a LIST \" *\r\nb STATUS INBOX\x1e(MESSAGES UIDNEXT)",
		// Mistakes inside literals (issue 14 item 8): a refused argument
		// must not leave the literal's lines to run as commands.
		"a APPEND &AC8- {14+}\r\nx1 DELETE Keep\r\n", "a CREATE {3+}\r\na\x00b\r\nx1 DELETE Keep",
		"a RENAME {4+}\r\nKeep {3+}\r\na\nb", "a SELECT {6+}\r\nINBOX\x00\r\nb FETCH 0 FLAGS\r\nc SEARCH FOOBAR",
		"a STATUS {4+}\r\n&AC8 (MESSAGES)\r\nx1 DELETE Keep",
		// Nested MIME (issue 14 item 2), then everything that walks parts.
		nestedSeed(150),
	} {
		f.Add(s)
	}
	env := startServer(f, func(o *Options) { o.AllowInsecureAuth, o.MaxLiteral = true, 64<<10 })
	ln := newPairListener()
	go env.srv.Serve(ln, false)
	f.Cleanup(func() { ln.Close() })
	f.Fuzz(func(t *testing.T, input string) {
		// Keep may go only if a command line (not literal data) says so.
		framed := strings.ToUpper(commandLines(input))
		mayRemove := strings.Contains(framed, "DELETE") || strings.Contains(framed, "RENAME")
		tidy(t, env, ln)
		c, r := ln.login(t, "k CREATE Keep\r\n")
		defer c.Close()
		go func() {
			io.WriteString(c, input+"\r\nzz LOGOUT\r\n")
			c.CloseWrite()
		}()
		if _, err := io.Copy(io.Discard, r); err != nil {
			t.Fatalf("session did not end after the client had sent everything: %v", err)
		}
		if n := value(t, env.srv.metrics.panics); n != 0 {
			t.Fatalf("the server panicked (%v)", n)
		}
		if _, err := env.store.Messages(alice, "Keep"); err != nil && !mayRemove {
			t.Fatalf("folder Keep vanished after %q: literal data ran as a command? (%v)", input, err)
		}
	})
}

// commandLines is input without the data of its non-synchronising
// literals: a line that ends in {N+} is followed by N bytes that the
// server may refuse (and close the connection) but never run. The data
// after {N} stays: a server that refuses the command sends no "+", and
// what the client sent anyway is rightly its next command.
func commandLines(input string) string {
	var b strings.Builder
	for input != "" {
		line, rest, _ := strings.Cut(input, "\n")
		b.WriteString(line + "\n")
		input = rest
		if _, size, nonSync, ok := literalMarker([]byte(strings.TrimSuffix(line, "\r"))); ok && nonSync {
			input = input[min(int64(len(input)), size):]
		}
	}
	return b.String()
}

// readUntil reads lines up to one that starts with prefix.
func readUntil(t *testing.T, r *bufio.Reader, prefix string) {
	t.Helper()
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading up to %q: %v", prefix, err)
		}
		if strings.HasPrefix(l, prefix) {
			return
		}
	}
}

// tidy empties INBOX when inputs have filled it, so that FETCH 1:* and
// SEARCH do not slow down as the run goes on.
func tidy(t *testing.T, env *testEnv, ln *pairListener) {
	snap, err := env.store.Messages(alice, "INBOX")
	if err != nil || len(snap.Messages) < 50 {
		return
	}
	c, _ := ln.login(t, "k SELECT INBOX\r\nk STORE 1:* +FLAGS.SILENT (\\Deleted)\r\nk EXPUNGE\r\n")
	c.Close()
}

// login opens a session as alice and runs commands, all tagged "k",
// reading up to the last one's answer.
func (l *pairListener) login(t *testing.T, commands string) (*net.UnixConn, *bufio.Reader) {
	c := l.dial(t)
	c.SetDeadline(time.Now().Add(20 * time.Second))
	r := bufio.NewReader(c)
	readUntil(t, r, "* OK")
	io.WriteString(c, "k LOGIN alice secret\r\n"+commands)
	for range strings.Count(commands, "\n") + 1 {
		readUntil(t, r, "k ")
	}
	return c, r
}

// nestedSeed appends a message nested depth levels deep, then asks for
// everything that walks its parts.
func nestedSeed(depth int) string {
	msg := mimetree.Nested(depth, "needle")
	return fmt.Sprintf("a APPEND INBOX {%d+}\r\n%s\r\nb SELECT INBOX\r\nc FETCH 1:* (BODYSTRUCTURE BODY[1.1.1] BINARY[1.1] BINARY.SIZE[1])\r\n"+
		"d SEARCH TEXT needle\r\ne FETCH * BODY[%s]", len(msg), msg, strings.TrimSuffix(strings.Repeat("1.", 101), "."))
}
