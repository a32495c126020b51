package imap

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// lockedBuffer collects log output from the server's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// FuzzClearText sends arbitrary bytes on the plain port before TLS, where
// the front and imapserver must split the stream alike: whatever the
// bytes, no password is checked in clear text (the front refuses LOGIN
// and AUTHENTICATE, and imapserver, which would accept them, must never
// see one), nothing panics, and the connection ends when the client
// stops sending.
func FuzzClearText(f *testing.F) {
	for _, s := range []string{
		"a LOGIN alice secret\r\n", "a login alice secret\n", "a LOGIN {5}\r\nalice {6}\r\nsecret\r\n",
		"a AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==\r\n", "a AUTHENTICATE PLAIN\r\nAGFsaWNlAHNlY3JldA==\r\n",
		"a SELECT {5+} \r\nb LOGIN alice secret\r\n", "a NOOP x\rb LOGIN alice secret\r\n",
		"a NOOP {5+}\r\nb LOGIN alice secret\r\n", "a ENABLE x {5+}\r\nb LOGIN alice secret\r\n",
		"a IDLE\r\nDONE\r\nb LOGIN alice secret\r\n", "a STARTTLS\r\nb LOGIN alice secret\r\n",
		"a CAPABILITY\r\nb GETQUOTAROOT INBOX\r\n", "a SELECT \"x {5+}\r\nb LOGIN alice secret\r\n",
		"a CAPABILITY {5+}\r\nb LOGIN alice secret\r\n",
	} {
		f.Add(s)
	}
	logs := &lockedBuffer{}
	reg := prometheus.NewRegistry()
	env := startServer(f, func(o *Options) {
		o.Registerer = reg
		o.Logger = slog.New(slog.NewTextHandler(logs, nil))
	})
	f.Fuzz(func(t *testing.T, input string) {
		conn, err := net.Dial("tcp", env.plainAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(20 * time.Second))
		if _, err := io.WriteString(conn, input); err != nil {
			t.Fatalf("write: %v", err)
		}
		conn.(*net.TCPConn).CloseWrite()
		if _, err := io.ReadAll(conn); err != nil && !strings.Contains(err.Error(), "reset") {
			t.Fatalf("the connection did not end after the input: %v", err)
		}
		m := env.srv.metrics.logins
		for _, r := range []string{"ok", "failed", "locked"} {
			if n := value(t, m.WithLabelValues(r)); n != 0 {
				t.Fatalf("a password was checked in clear text (logins{result=%q} = %v)", r, n)
			}
		}
		if strings.Contains(logs.String(), "panic") {
			t.Fatalf("server panicked:\n%s", logs.String())
		}
	})
}
