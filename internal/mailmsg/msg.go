// Package mailmsg is the one vocabulary for a message on its way through
// mailgate: the envelope the relay accepts and the queue stores, a delivery
// attempt the queue hands to a transport, and the per-recipient result and
// typed error the transport gives back. It is a leaf: relay, filters, queue
// and delivery import it, and it imports none of them, so queue and
// delivery need not know each other.
package mailmsg

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// Envelope is what the SMTP transaction said about a message, kept with it
// in the spool. It never holds secrets (no passwords, no AUTH data). Once
// the queue has accepted it, nobody changes it: an Attempt shares it.
type Envelope struct {
	ID         string      `json:"id"`
	From       string      `json:"from"` // "" is the null reverse-path <>
	Recipients []Recipient `json:"recipients"`
	Received   time.Time   `json:"received"`
	ClientIP   string      `json:"client_ip,omitempty"`
	Helo       string      `json:"helo,omitempty"`
	Listener   string      `json:"listener,omitempty"`
	// Account is the authenticated account that submitted the message.
	Account string `json:"account,omitempty"`
	// UTF8 is set when the client used SMTPUTF8; EightBit for 8BITMIME.
	UTF8     bool `json:"smtputf8,omitempty"`
	EightBit bool `json:"8bitmime,omitempty"`
	// DSN parameters from MAIL FROM (RFC 3461).
	Ret   string `json:"ret,omitempty"` // FULL or HDRS
	EnvID string `json:"envid,omitempty"`
	// RequireTLS is the REQUIRETLS parameter (RFC 8689).
	RequireTLS bool `json:"requiretls,omitempty"`
	// Quarantine asks local delivery to file the message under Junk
	// (DMARC p=quarantine).
	Quarantine bool `json:"quarantine,omitempty"`
	// Bounce marks a DSN we generated: it is never bounced itself.
	Bounce bool `json:"bounce,omitempty"`
}

// Recipient is one envelope recipient.
type Recipient struct {
	// Addr is where the message goes: an account address (maybe with a
	// +tag) or a remote address.
	Addr string `json:"addr"`
	// Orig is the address given in RCPT TO when Addr came from expanding
	// an alias, or the account whose Sieve redirect made it; empty
	// otherwise. A remote Addr with a local Orig is forwarded mail.
	Orig string `json:"orig,omitempty"`
	// Notify holds NEVER, or any of SUCCESS, FAILURE, DELAY; ORCPT is
	// "addr-type;address". Both are the RFC 3461 RCPT parameters, passed
	// on to remotes that offer DSN.
	Notify []string `json:"notify,omitempty"`
	ORCPT  string   `json:"orcpt,omitempty"`
}

// NewID returns a queue ID: the acceptance time in microseconds (so IDs
// sort by age) and 6 random hex digits.
func NewID(now time.Time) string {
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return fmt.Sprintf("%013x%s", now.UnixMicro(), hex.EncodeToString(b[:]))
}

// Domain returns the lower-case domain of an address without a trailing
// dot ("" when addr has no @). Every package that groups, signs or limits
// by domain uses this one, so "a@Example.COM." and "a@example.com" meet.
func Domain(addr string) string {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return ""
	}
	return strings.ToLower(strings.TrimSuffix(addr[i+1:], "."))
}

// Clean turns every control character (C0 and DEL, CR and LF among them)
// into a space, so text from a client, a remote server or a file cannot
// forge a line in a reply, a header field, a DSN or a log.
func Clean(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}
