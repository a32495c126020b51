// Package hops counts the Received trace fields of a message, the hop
// count by which mail loops are found (RFC 5321 section 6.3). The relay
// refuses a looping message at DATA and delivery refuses to send one on,
// both with this count, so that they agree on what a loop is.
package hops

import "bytes"

// Count returns how many Received fields the header section of msg holds
// (field names compared without regard to case; the obsolete form with
// blanks before the colon, RFC 5322 section 4.5, counts too). It stops at
// the blank line that ends the header, so a body quoting Received lines
// does not count.
func Count(msg []byte) int {
	n := 0
	for len(msg) > 0 {
		line := msg
		if i := bytes.IndexByte(msg, '\n'); i >= 0 {
			line, msg = msg[:i], msg[i+1:]
		} else {
			msg = nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			break // end of the header section
		}
		if isReceived(line) {
			n++
		}
	}
	return n
}

func isReceived(line []byte) bool {
	const name = "received"
	if len(line) <= len(name) || !bytes.EqualFold(line[:len(name)], []byte(name)) {
		return false
	}
	rest := bytes.TrimLeft(line[len(name):], " \t")
	return len(rest) > 0 && rest[0] == ':'
}
