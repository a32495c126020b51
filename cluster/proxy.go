// Package cluster is what lets several mailgate nodes act as one behind
// a load balancer: a listener that takes the client address from the
// balancer's PROXY protocol header, and the Redis store that the rate
// limits (filters) and the login lockout (authlimit) share across nodes.
package cluster

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/pires/go-proxyproto"
)

// ProxyHeaderTimeout bounds how long a trusted balancer may take to send
// its header (HAProxy sends it with the connection).
const ProxyHeaderTimeout = 5 * time.Second

// ProxyListener wraps ln so that connections from trusted (CIDRs) must
// start with a PROXY protocol v1 or v2 header, whose client address is
// then what RemoteAddr returns to every protocol layer above (filters,
// SPF, limits, lockout, logs). A connection from any other address is
// passed on as it is, unless it starts with a PROXY header: then it is
// closed, and logged, since it claims an address it may not.
func ProxyListener(ln net.Listener, trusted []string, log *slog.Logger) (net.Listener, error) {
	nets := make([]*net.IPNet, 0, len(trusted))
	for _, c := range trusted {
		_, n, err := net.ParseCIDR(c)
		if err != nil {
			return nil, fmt.Errorf("trusted_proxies: %v", err)
		}
		nets = append(nets, n)
	}
	policy := func(o proxyproto.ConnPolicyOptions) (proxyproto.Policy, error) {
		if fromTrusted(o.Upstream, nets) {
			return proxyproto.REQUIRE, nil
		}
		// SKIP hands the connection on untouched: the library would wait
		// for the client's first bytes before RemoteAddr answers, and
		// SMTP, IMAP and POP3 clients wait for the server's greeting.
		return proxyproto.SKIP, nil
	}
	pl := &proxyproto.Listener{Listener: ln, ConnPolicy: policy, ReadHeaderTimeout: ProxyHeaderTimeout}
	r := &readyListener{Listener: pl, log: log, conns: make(chan net.Conn), errs: make(chan error), done: make(chan struct{})}
	go r.loop()
	return r, nil
}

func fromTrusted(a net.Addr, nets []*net.IPNet) bool {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return false
	}
	for _, n := range nets {
		if n.Contains(ta.IP) {
			return true
		}
	}
	return false
}

// readyListener hands out a balancer's connection only once its header
// is read, each in its own goroutine: the servers' accept loops ask for
// RemoteAddr at once (per-IP limits), which would otherwise wait for the
// header and hold up every other connection. Connections from anywhere
// else are handed out at once, with their first bytes watched.
type readyListener struct {
	net.Listener
	log   *slog.Logger
	conns chan net.Conn
	errs  chan error
	done  chan struct{}
	once  sync.Once
}

func (r *readyListener) loop() {
	for {
		c, err := r.Listener.Accept()
		if err != nil {
			select {
			case r.errs <- err:
			case <-r.done:
				return
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if pc, proxied := c.(*proxyproto.Conn); proxied {
			go r.whenReady(pc)
			continue
		}
		r.handOut(&guardedConn{Conn: c, log: r.log})
	}
}

// whenReady reads the header (within ProxyHeaderTimeout) and hands the
// connection out, or closes it when the balancer sent none.
func (r *readyListener) whenReady(pc *proxyproto.Conn) {
	pc.RemoteAddr() // reads the header
	if pc.ProxyHeader() == nil {
		r.log.Warn("connection closed: no valid PROXY protocol header from a trusted proxy (health checks need check-send-proxy)",
			"proxy", pc.Raw().RemoteAddr().String())
		pc.Close()
		return
	}
	r.handOut(pc)
}

func (r *readyListener) handOut(c net.Conn) {
	select {
	case r.conns <- c:
	case <-r.done:
		c.Close()
	}
}

func (r *readyListener) Accept() (net.Conn, error) {
	select {
	case c := <-r.conns:
		return c, nil
	case err := <-r.errs:
		return nil, err
	case <-r.done:
		return nil, net.ErrClosed
	}
}

func (r *readyListener) Close() error {
	r.once.Do(func() { close(r.done) })
	return r.Listener.Close()
}

// ErrUntrustedProxyHeader is the read error of a connection that sent a
// PROXY header from an address not in trusted_proxies.
var ErrUntrustedProxyHeader = errors.New("PROXY protocol header from an untrusted address")

// Signatures that start a PROXY header: v1 is text, v2 binary.
var (
	proxyV1 = []byte("PROXY ")
	proxyV2 = []byte("\r\n\r\n\x00\r\nQUIT\n")
)

// sigLen is how many first bytes tell a header from any protocol's
// first command.
const sigLen = 6

// guardedConn refuses a PROXY header at the start of its stream.
type guardedConn struct {
	net.Conn
	log     *slog.Logger
	once    sync.Once
	pending []byte // bytes read while checking, not yet returned
	err     error
}

func (c *guardedConn) Read(b []byte) (int, error) {
	c.once.Do(c.check)
	if len(c.pending) > 0 {
		n := copy(b, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	if c.err != nil {
		return 0, c.err
	}
	return c.Conn.Read(b)
}

// check reads until the first bytes can no longer start a header.
func (c *guardedConn) check() {
	buf := make([]byte, 0, 64)
	for len(buf) < sigLen && mayBeHeader(buf) {
		n, err := c.Conn.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err != nil {
			c.pending, c.err = buf, err
			return
		}
	}
	if isHeader(buf) {
		c.log.Warn("connection closed: PROXY protocol header from an address not in trusted_proxies",
			"remote", c.Conn.RemoteAddr().String())
		c.Conn.Close()
		c.err = ErrUntrustedProxyHeader
		return
	}
	c.pending = buf
}

func mayBeHeader(b []byte) bool {
	return bytes.HasPrefix(proxyV1, b) || bytes.HasPrefix(proxyV2, b)
}

func isHeader(b []byte) bool {
	if len(b) < sigLen {
		return false
	}
	return bytes.HasPrefix(b, proxyV1) || bytes.HasPrefix(b, proxyV2[:sigLen])
}
