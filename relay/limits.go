package relay

import (
	"fmt"
	"net"
	"sync"
	"time"
)

// connLimiter caps connections in total and per client IP. A connection
// over a cap is answered with a 421 line and closed before go-smtp sees
// it, so a flood costs one write per connection.
type connLimiter struct {
	net.Listener
	max, perIP int
	onReject   func(reason string)
	// implicitTLS: the client expects a TLS handshake, to which a clear
	// text 421 is garbage; such a connection is just closed.
	implicitTLS bool

	mu    sync.Mutex
	total int
	byIP  map[string]int
}

func limitListener(ln net.Listener, max, perIP int, onReject func(string)) *connLimiter {
	return &connLimiter{Listener: ln, max: max, perIP: perIP, byIP: map[string]int{}, onReject: onReject}
}

// Accept returns the next connection within the limits.
func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := hostOf(c.RemoteAddr())
		l.mu.Lock()
		switch {
		case l.total >= l.max:
			l.mu.Unlock()
			go l.refuse(c, errTooManyConns.Code, errTooManyConns.Message)
			l.onReject("total")
			continue
		case l.byIP[ip] >= l.perIP:
			l.mu.Unlock()
			go l.refuse(c, errTooManyConnsIP.Code, errTooManyConnsIP.Message)
			l.onReject("per_ip")
			continue
		}
		l.total++
		l.byIP[ip]++
		l.mu.Unlock()
		return &limitedConn{Conn: c, release: func() { l.release(ip) }, closed: make(chan struct{})}, nil
	}
}

func (l *connLimiter) release(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.byIP[ip]--; l.byIP[ip] <= 0 {
		delete(l.byIP, ip)
	}
}

func (l *connLimiter) refuse(c net.Conn, code int, msg string) {
	if !l.implicitTLS {
		c.SetWriteDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(c, "%d 4.7.0 %s\r\n", code, msg)
	}
	c.Close()
}

type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
	closed  chan struct{} // closed by Close
}

func (c *limitedConn) Close() error {
	c.once.Do(func() {
		c.release()
		close(c.closed)
	})
	return c.Conn.Close()
}

func hostOf(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	h, _, _ := net.SplitHostPort(a.String())
	return h
}
