package config

import (
	"fmt"
	"net"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
)

// ProtoLMTP is an LMTP listener (RFC 2033): another MTA in front of
// mailgate hands it mail for local mailboxes, with one reply per
// recipient. No AUTH and no STARTTLS: it is meant for loopback or a
// UNIX socket.
const ProtoLMTP = "lmtp"

// UnixPrefix starts an address that is a UNIX socket path
// ("unix:/run/mailgate/lmtp") rather than host:port.
const UnixPrefix = "unix:"

// SocketPath returns the path of a "unix:/path" address.
func SocketPath(addr string) (string, bool) {
	p, ok := strings.CutPrefix(addr, UnixPrefix)
	return p, ok
}

// DeliveryLocal says where local recipients' mail goes: mailgate's own
// store (LMTP empty) or an LMTP server such as Dovecot's.
type DeliveryLocal struct {
	// LMTP is "unix:/run/dovecot/lmtp" or "host:port"; empty stores
	// local mail in mailgate's own mailboxes.
	LMTP string `yaml:"lmtp"`
}

func (d *DeliveryLocal) validate(v *Validator) {
	if d.LMTP == "" {
		return
	}
	if p, ok := SocketPath(d.LMTP); ok {
		if !filepath.IsAbs(p) {
			v.Errorf("delivery.local.lmtp", "%q is not an absolute socket path; write one such as unix:/run/dovecot/lmtp", d.LMTP)
		}
		return
	}
	_, port, err := net.SplitHostPort(d.LMTP)
	if n, perr := strconv.Atoi(port); err != nil || perr != nil || n < 1 || n > 65535 {
		v.Errorf("delivery.local.lmtp", "%q is neither unix:/path nor host:port; write one such as unix:/run/dovecot/lmtp or 127.0.0.1:24", d.LMTP)
	}
}

// validateSocket checks the UNIX socket keys of listener l at path p:
// only for a socket address, mode an octal permission, owner a user (and
// group) that exists here.
func validateSocket(v *Validator, p string, l *Listener) {
	_, unix := SocketPath(l.Address)
	if !unix {
		if l.SocketMode != "" {
			v.Errorf(p+".socket_mode", "only a unix: address has a file mode; remove this key")
		}
		if l.SocketOwner != "" {
			v.Errorf(p+".socket_owner", "only a unix: address has an owner; remove this key")
		}
		return
	}
	if l.ProxyProtocol {
		v.Errorf(p+".proxy_protocol", "a unix: socket has no client address for a PROXY header to replace; remove this key")
	}
	if l.SocketMode != "" {
		if _, err := ParseSocketMode(l.SocketMode); err != nil {
			v.Errorf(p+".socket_mode", "%q is not a file mode; write an octal mode such as \"0660\" (quoted)", l.SocketMode)
		}
	}
	if l.SocketOwner != "" {
		if _, _, err := LookupOwner(l.SocketOwner); err != nil {
			v.Errorf(p+".socket_owner", "%s; write an existing user, or user:group", err)
		}
	}
}

// ParseSocketMode reads an octal permission such as "0660".
func ParseSocketMode(s string) (uint32, error) {
	m, err := strconv.ParseUint(s, 8, 32)
	if err != nil || m > 0o777 {
		return 0, fmt.Errorf("bad mode %q", s)
	}
	return uint32(m), nil
}

// LookupOwner resolves "user" or "user:group" to numeric ids; with no
// group, the user's primary group.
func LookupOwner(s string) (uid, gid int, err error) {
	name, group, hasGroup := strings.Cut(s, ":")
	u, err := user.Lookup(name)
	if err != nil {
		return 0, 0, fmt.Errorf("no user %q on this machine", name)
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	if hasGroup {
		g, err := user.LookupGroup(group)
		if err != nil {
			return 0, 0, fmt.Errorf("no group %q on this machine", group)
		}
		gid, _ = strconv.Atoi(g.Gid)
	}
	return uid, gid, nil
}

// validSocketAddress checks a listener's unix: address: an absolute
// path, on an LMTP listener only.
func validSocketAddress(v *Validator, p string, l *Listener) {
	path, _ := SocketPath(l.Address)
	switch {
	case l.Protocol != ProtoLMTP:
		v.Errorf(p+".address", "only an lmtp listener may listen on a UNIX socket; write host:port")
	case !filepath.IsAbs(path):
		v.Errorf(p+".address", "%q is not an absolute socket path; write one such as unix:/run/mailgate/lmtp", l.Address)
	}
}
