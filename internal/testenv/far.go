package testenv

import "net"

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
