package imap

import (
	"net"
	"time"
)

// Connection limits beyond MaxConnections, so one address cannot take
// every slot: MaxConnectionsPerIP bounds the connections from one client
// address, MaxUserIPConnections the logged-in sessions of one account from
// one address (Dovecot's mail_max_userip_connections), and LoginTimeout
// how long a connection may stay without logging in.

// connLimits counts the open connections per client address and the
// logged-in sessions per account and address; Server.mu guards them.
type connLimits struct {
	perIP     map[string]int
	perUserIP map[userIP]int
}

type userIP struct{ account, ip string }

// hostOf is the client address a per-address limit counts: an IPv4
// address, or an IPv6 /64 (one host usually holds a whole /64, so
// counting single IPv6 addresses would be no limit).
func hostOf(c net.Conn) string {
	a, ok := c.RemoteAddr().(*net.TCPAddr)
	if !ok {
		host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
		return host
	}
	if a.IP.To4() == nil && !a.IP.IsLoopback() {
		return a.IP.Mask(net.CIDRMask(64, 128)).String() + "/64"
	}
	return a.IP.String()
}

// refusal is why track refused a connection ("" if it did not).
type refusal string

const (
	refusedTotal refusal = "refused"        // MaxConnections
	refusedPerIP refusal = "refused_per_ip" // MaxConnectionsPerIP
)

// track admits a new connection under the limits.
func (s *Server) track(gc *guardConn) refusal {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || len(s.conns) >= s.opts.MaxConnections {
		return refusedTotal
	}
	if s.limits.perIP[gc.ip] >= s.opts.MaxConnectionsPerIP {
		return refusedPerIP
	}
	s.conns[gc] = ""
	s.limits.perIP[gc.ip]++
	s.metrics.open.WithLabelValues("unauthenticated").Inc()
	return ""
}

// untrack forgets a closed connection.
func (s *Server) untrack(gc *guardConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	account, ok := s.conns[gc]
	if !ok {
		return
	}
	delete(s.conns, gc)
	if s.limits.perIP[gc.ip]--; s.limits.perIP[gc.ip] <= 0 {
		delete(s.limits.perIP, gc.ip)
	}
	if account == "" {
		s.metrics.open.WithLabelValues("unauthenticated").Dec()
		return
	}
	s.metrics.open.WithLabelValues("authenticated").Dec()
	k := userIP{account, gc.ip}
	if s.limits.perUserIP[k]--; s.limits.perUserIP[k] <= 0 {
		delete(s.limits.perUserIP, k)
	}
}

// loggedIn counts a login of account on gc; false (and nothing counted)
// when the account already has MaxUserIPConnections sessions from that
// address, or gc is closed already.
func (s *Server) loggedIn(gc *guardConn, account string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := userIP{account, gc.ip}
	if prev, ok := s.conns[gc]; !ok || prev != "" || s.limits.perUserIP[k] >= s.opts.MaxUserIPConnections {
		return false
	}
	s.conns[gc] = account
	s.limits.perUserIP[k]++
	s.metrics.open.WithLabelValues("unauthenticated").Dec()
	s.metrics.open.WithLabelValues("authenticated").Inc()
	return true
}

// refuseText is the * BYE for a connection track refused.
func (r refusal) text() string {
	if r == refusedPerIP {
		return "Too many connections from your address; close some and try again"
	}
	return "Too many connections; try again later"
}

// watchLogin closes fr with * BYE if it has not logged in within
// LoginTimeout; stop ends the watch.
func (s *Server) watchLogin(fr *conn) (stop func() bool) {
	t := time.AfterFunc(s.opts.LoginTimeout, func() {
		if fr.loginTimedOut(s.opts.LoginTimeout) {
			s.metrics.closed.WithLabelValues("login_timeout").Inc()
		}
	})
	return t.Stop
}
