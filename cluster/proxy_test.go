package cluster

import (
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"
)

// TestGuardedConn feeds the first bytes of a connection from an
// untrusted address in pieces: a PROXY header (v1 or v2) closes it,
// anything else, even a short first command or one that starts like a
// header, reads back unchanged.
func TestGuardedConn(t *testing.T) {
	cases := []struct {
		name   string
		pieces []string
		refuse bool
	}{
		{"v1", []string{"PROXY TCP4 192.0.2.1 127.0.0.1 1 25\r\n"}, true},
		{"v1 split", []string{"PR", "OX", "Y TCP4 192.0.2.1 127.0.0.1 1 25\r\n"}, true},
		{"v2", []string{"\r\n\r\n\x00\r\nQUIT\n\x21\x11"}, true},
		{"v2 split", []string{"\r\n", "\r\n\x00\r", "\nQUIT\n"}, true},
		{"ehlo", []string{"EHLO client.example\r\n"}, false},
		{"short quit", []string{"QUIT\r\n"}, false},
		{"prefix then not", []string{"PRO", "FILE\r\n"}, false},
		{"empty line", []string{"\r\n", "NOOP\r\n"}, false},
		{"tls hello", []string{"\x16\x03\x01\x02\x00\x01"}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			client, server := net.Pipe()
			defer client.Close()
			g := &guardedConn{Conn: server, log: slog.New(slog.DiscardHandler)}
			go func() {
				for _, p := range c.pieces {
					client.Write([]byte(p))
					time.Sleep(time.Millisecond)
				}
				client.Close()
			}()
			got, err := io.ReadAll(g)
			if c.refuse {
				if err != ErrUntrustedProxyHeader {
					t.Fatalf("read %q, err %v; want ErrUntrustedProxyHeader", got, err)
				}
				return
			}
			if want := strings.Join(c.pieces, ""); string(got) != want || err != nil {
				t.Fatalf("read %q, err %v; want %q", got, err, want)
			}
		})
	}
}
