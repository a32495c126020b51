package imap

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// peerGone reports whether the client has closed or reset its side of
// the TCP connection, without reading from it: imapserver reads only
// between commands, so a client that leaves during a long SEARCH or
// FETCH is seen only here. A client that shuts down its sending side
// while waiting for answers counts as gone too, as for Dovecot.
func peerGone(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	gone := false
	rc.Control(func(fd uintptr) {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLRDHUP}}
		if n, err := unix.Poll(fds, 0); err == nil && n > 0 {
			gone = fds[0].Revents&(unix.POLLRDHUP|unix.POLLHUP|unix.POLLERR|unix.POLLNVAL) != 0
		}
	})
	return gone
}
