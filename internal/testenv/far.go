package testenv

import (
	"bufio"
	"io"
	"net"
	"strings"
	"time"
)

// FarListener makes every connection it accepts look as if it came from
// 192.0.2.1 (TEST-NET-1, RFC 5737), a client off this machine, so tests
// that only talk to loopback can check what a remote client gets.
type FarListener struct{ net.Listener }

// Accept wraps the next connection.
func (l FarListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return farConn{c}, nil
}

type farConn struct{ net.Conn }

func (farConn) RemoteAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 40000} }

// KeepBusy sends cmd (a whole line with CRLF) on c and reads one reply
// line, again and again, until the server closes the connection (at most
// 1,000 times, 10 ms apart); it returns the last line read, without its
// line end. Tests of login timeouts use it: the server must close a
// connection that is busy, not only one that is silent.
func KeepBusy(c io.Writer, r *bufio.Reader, cmd string) string {
	var last string
	for range 1000 {
		if _, err := io.WriteString(c, cmd); err != nil {
			break
		}
		l, err := r.ReadString('\n')
		if err != nil {
			break
		}
		last = strings.TrimRight(l, "\r\n")
		time.Sleep(10 * time.Millisecond)
	}
	return last
}
