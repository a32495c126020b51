// Package srs rewrites the envelope sender of forwarded mail into the
// forwarding domain (the Sender Rewriting Scheme, in the SRS0/SRS1 form
// of libsrs2, postsrsd and Exim) and turns such addresses back into the
// original sender when a bounce comes home. Delivery calls Forward; the
// relay calls Reverse on RCPT TO of a local domain.
package srs

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"strings"
	"time"
)

// Errors of Reverse. ErrNotSRS means the address is an ordinary one.
var (
	ErrNotSRS  = errors.New("srs: not an SRS address")
	ErrForged  = errors.New("srs: the address is malformed or its hash does not match")
	ErrExpired = errors.New("srs: the address is older than the age limit")
)

const (
	hashLen = 4 // base64 characters of the HMAC, as libsrs2's default
	// timeSlots is the period of the day stamp: two base32 characters.
	timeSlots = 1024
	b32       = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	// DefaultMaxAge is how long a rewritten address is honoured (libsrs2
	// and postsrsd: 21 days).
	DefaultMaxAge = 21 * 24 * time.Hour
)

// Secrets gives the signing secret (first) and every secret still
// accepted for verification; *Keys implements it.
type Secrets interface {
	Secrets() [][]byte
}

// Rewriter makes and checks SRS addresses.
type Rewriter struct {
	Keys   Secrets
	MaxAge time.Duration // 0: DefaultMaxAge
	Now    func() time.Time
}

func (r *Rewriter) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Forward rewrites sender into domain. The null sender "" stays "": a
// bounce is never rewritten. An SRS0 address of another forwarder becomes
// SRS1 (pointing at that forwarder), an SRS1 address keeps its first hop.
func (r *Rewriter) Forward(sender, domain string) (string, error) {
	if sender == "" {
		return "", nil
	}
	local, host, ok := split(sender)
	if !ok || strings.ContainsAny(host, "=@") {
		// "=" in a domain would make the address unreadable on return.
		return "", errors.New("srs: the sender has no domain name")
	}
	secrets := r.Keys.Secrets()
	if len(secrets) == 0 {
		return "", errors.New("srs: no key")
	}
	key := secrets[0]
	switch tag := srsTag(local); tag {
	case "SRS1":
		_, hop, user, ok := fields3(local[5:])
		if !ok {
			break // not well formed: treat as an ordinary address
		}
		return "SRS1=" + hash(key, hop, user) + "=" + hop + "=" + user + "@" + domain, nil
	case "SRS0":
		user := local[4:] // keeps the separator after SRS0
		return "SRS1=" + hash(key, host, user) + "=" + host + "=" + user + "@" + domain, nil
	}
	stamp := stampOf(r.now())
	return "SRS0=" + hash(key, stamp, host, local) + "=" + stamp + "=" + host + "=" + local + "@" + domain, nil
}

// Reverse turns an SRS address back into the address it stands for: the
// original sender for SRS0, the first forwarder's SRS0 address for SRS1.
func (r *Rewriter) Reverse(addr string) (string, error) {
	local, _, ok := split(addr)
	if !ok {
		return "", ErrNotSRS
	}
	switch srsTag(local) {
	case "SRS0":
		return r.reverse0(local[5:])
	case "SRS1":
		h, hop, user, ok := fields3(local[5:])
		if !ok || hop == "" || user == "" || !r.check(h, hop, user) {
			return "", ErrForged
		}
		return "SRS0" + user + "@" + hop, nil
	}
	return "", ErrNotSRS
}

// reverse0 checks "HHHH=TT=domain=local" and returns local@domain.
func (r *Rewriter) reverse0(rest string) (string, error) {
	parts := strings.SplitN(rest, "=", 4)
	if len(parts) != 4 || parts[2] == "" || parts[3] == "" || len(parts[1]) != 2 {
		return "", ErrForged
	}
	h, stamp, host, local := parts[0], parts[1], parts[2], parts[3]
	if !r.check(h, stamp, host, local) {
		return "", ErrForged
	}
	if !r.fresh(stamp) {
		return "", ErrExpired
	}
	return local + "@" + host, nil
}

// check compares h with the hash under every accepted key. Like libsrs2
// it ignores case, since some servers change the case of local parts.
func (r *Rewriter) check(h string, data ...string) bool {
	if len(h) != hashLen {
		return false
	}
	for _, key := range r.Keys.Secrets() {
		if strings.EqualFold(h, hash(key, data...)) {
			return true
		}
	}
	return false
}

// fresh reports whether a day stamp lies within the age limit; a stamp
// from the future counts as almost timeSlots days old (libsrs2 does so).
func (r *Rewriter) fresh(stamp string) bool {
	then, ok := parseStamp(stamp)
	if !ok {
		return false
	}
	now := day(r.now()) % timeSlots
	for now < then {
		now += timeSlots
	}
	maxAge := r.MaxAge
	if maxAge <= 0 {
		maxAge = DefaultMaxAge
	}
	return now-then <= int(maxAge/(24*time.Hour))
}

// hash is the first hashLen characters of the base64 HMAC-SHA1 of the
// lower-cased data under key.
func hash(key []byte, data ...string) string {
	m := hmac.New(sha1.New, key)
	for _, d := range data {
		m.Write([]byte(strings.ToLower(d)))
	}
	return base64.StdEncoding.EncodeToString(m.Sum(nil))[:hashLen]
}

func day(t time.Time) int { return int(t.Unix() / 86400) }

func stampOf(t time.Time) string {
	d := day(t) % timeSlots
	return string([]byte{b32[d>>5&31], b32[d&31]})
}

func parseStamp(s string) (int, bool) {
	if len(s) != 2 {
		return 0, false
	}
	hi := strings.IndexByte(b32, upper(s[0]))
	lo := strings.IndexByte(b32, upper(s[1]))
	if hi < 0 || lo < 0 {
		return 0, false
	}
	return hi<<5 | lo, true
}

func upper(c byte) byte {
	if 'a' <= c && c <= 'z' {
		return c - 'a' + 'A'
	}
	return c
}

// srsTag returns "SRS0" or "SRS1" when local starts with one of them and
// a separator (=, + or -), any case; "" otherwise.
func srsTag(local string) string {
	if len(local) < 5 || !strings.ContainsRune("=+-", rune(local[4])) {
		return ""
	}
	switch strings.ToUpper(local[:4]) {
	case "SRS0":
		return "SRS0"
	case "SRS1":
		return "SRS1"
	}
	return ""
}

// IsSRS reports whether the address's local part has the SRS form, so
// that a failed Reverse means a forged or expired address.
func IsSRS(addr string) bool {
	local, _, _ := split(addr)
	return srsTag(local) != ""
}

// fields3 splits the "HHHH=host=" + "=opaque" of an SRS1 address; user
// keeps the separator that followed SRS0 in the first hop's address.
func fields3(s string) (h, host, user string, ok bool) {
	h, rest, ok1 := strings.Cut(s, "=")
	host, user, ok2 := strings.Cut(rest, "=")
	if !ok1 || !ok2 || len(user) < 2 {
		return "", "", "", false
	}
	return h, host, user, true
}

func split(addr string) (local, domain string, ok bool) {
	i := strings.LastIndexByte(addr, '@')
	if i <= 0 || i == len(addr)-1 {
		return "", "", false
	}
	return addr[:i], addr[i+1:], true
}

// Expand resolves a recipient in one of our domains for the relay: an
// SRS address becomes the address it stands for (a bounce finds its way
// back), a forged or expired one nothing (so it is refused as unknown);
// any other address is next's to resolve.
func (r *Rewriter) Expand(addr string, next func(string) ([]string, bool)) ([]string, bool) {
	if !IsSRS(addr) {
		return next(addr)
	}
	orig, err := r.Reverse(addr)
	if err != nil {
		return nil, false
	}
	return []string{orig}, true
}
