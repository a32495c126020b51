//go:build !linux

package imap

import "net"

// peerGone: without POLLRDHUP a client that leaves mid-command is only
// seen when the answer cannot be written.
func peerGone(c net.Conn) bool { return false }
