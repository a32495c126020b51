package api

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/mail"
	"time"

	"mailgate/filters"
)

// headerFrom returns the addresses of raw's header From fields (the chain's
// sender_policy refuses a message without exactly one).
func headerFrom(raw []byte) []string {
	n := filters.HeaderLen(raw)
	m, err := mail.ReadMessage(bytes.NewReader(raw[:n]))
	if err != nil {
		return nil
	}
	var out []string
	for _, v := range m.Header["From"] {
		list, err := mail.ParseAddressList(v)
		if err != nil {
			continue
		}
		for _, a := range list {
			out = append(out, a.Address)
		}
	}
	return out
}

func parseIP(s string) net.IP { return net.ParseIP(s) }

// received is the trace field (RFC 5321 section 4.4) for a message that
// came over the API: HTTP has no RFC 3848 keyword, so the protocol says
// what it is and the comment names the account and TLS.
func (s *Server) received(c caller, id string, now time.Time) []byte {
	proto := "HTTP"
	if c.tls {
		proto = "HTTPS"
	}
	return fmt.Appendf(nil, "Received: from api (%s)\r\n\tby %s (mailgate) with %s id %s\r\n\t(authenticated as %s, key %s);\r\n\t%s\r\n",
		literal(c.ip), s.opts.Hostname, proto, id, c.key.Account, c.key.ID, now.Format(time.RFC1123Z))
}

func literal(ip string) string {
	p := net.ParseIP(ip)
	switch {
	case p == nil:
		return "[unknown]"
	case p.To4() != nil:
		return "[" + p.String() + "]"
	}
	return "[IPv6:" + p.String() + "]"
}

// assemble is the message to queue: the trace field, what the filters
// added (DKIM signature last-added first), then the header and body as
// they left the filters.
func assemble(received []byte, msg *filters.Message) ([]byte, error) {
	out := make([]byte, 0, len(received)+len(msg.Prepend)+len(msg.Header)+int(msg.Body.Size()))
	out = append(append(append(out, received...), msg.Prepend...), msg.Header...)
	body := make([]byte, msg.Body.Size())
	if _, err := msg.Body.ReadAt(body, 0); err != nil && err != io.EOF {
		return nil, err
	}
	return append(out, body...), nil
}

func ascii(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

func utf8Addresses(from string, rcpts []string) bool {
	for _, a := range append([]string{from}, rcpts...) {
		if !ascii([]byte(a)) {
			return true
		}
	}
	return false
}
