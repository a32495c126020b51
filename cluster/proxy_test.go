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

// TestProxyListener: a balancer connection whose header is slow does not
// hold up the next one; the client address comes from the header; a
// connection from an untrusted address is handed out at once, as it is.
func TestProxyListener(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := ProxyListener(raw, []string{"127.0.0.1/32"}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dial := func(src string) net.Conn {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
		c, err := d.Dial("tcp", raw.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	dial("127.0.0.1") // a balancer that has not sent its header yet
	c := dial("127.0.0.1")
	c.Write([]byte("PROXY TCP4 192.0.2.7 127.0.0.1 4242 25\r\n"))
	got, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if a := got.RemoteAddr().String(); a != "192.0.2.7:4242" {
		t.Errorf("first connection handed out is from %s; want the one with a header, 192.0.2.7:4242", a)
	}
	dial("127.0.0.2")
	got, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if a := got.RemoteAddr().(*net.TCPAddr).IP.String(); a != "127.0.0.2" {
		t.Errorf("untrusted connection handed out as %s; want 127.0.0.2", a)
	}
}
