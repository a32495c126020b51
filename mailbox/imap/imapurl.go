package imap

import (
	"errors"
	"net/url"
	"strconv"
	"strings"

	goimap "github.com/emersion/go-imap/v2"
)

// IMAP URLs (RFC 5092) as CATENATE (RFC 4469) uses them: a message, or a
// part of one, in the logged-in account. Accepted forms:
//
//	imap://user@host/INBOX;UIDVALIDITY=3/;UID=20/;SECTION=1.2/;PARTIAL=0.512
//	/INBOX;UIDVALIDITY=3/;UID=20/;SECTION=HEADER   (relative to this server)
//	;UID=20/;SECTION=1                              (relative to the selected mailbox)
//
// The mailbox name is %-encoded UTF-8 (RFC 5092 §3.4); UIDVALIDITY,
// SECTION and PARTIAL are optional. An absolute URL must name the
// logged-in user (its host is not checked: it can only reach this
// account's mail). URLAUTH's ;EXPIRE= and ;URLAUTH= are refused, as
// URLAUTH is not offered.

// imapURL is a parsed IMAP URL naming a message or one of its parts.
type imapURL struct {
	mailbox     string // UTF-8; "" for the selected mailbox
	uidValidity uint32 // 0: not given
	uid         uint32
	section     *goimap.FetchItemBodySection // nil: the whole message
	partial     *urlPartial
}

// urlPartial is ";PARTIAL=offset[.length]"; length < 0 means to the end.
type urlPartial struct{ offset, length int64 }

// parseIMAPURL parses s for the logged-in account.
func parseIMAPURL(s, account string) (*imapURL, error) {
	path, err := urlPath(s, account)
	if err != nil {
		return nil, err
	}
	u := &imapURL{}
	if strings.HasPrefix(path, "/") {
		ref, rest, ok := strings.Cut(path[1:], "/;")
		if !ok {
			return nil, errors.New("the URL names no message (;UID=)")
		}
		if u.mailbox, u.uidValidity, err = mailboxRef(ref); err != nil {
			return nil, err
		}
		path = ";" + rest
	}
	return u, u.parseMessage(path)
}

// urlPath checks the scheme and user of an absolute URL and returns its
// path ("/mailbox..."); a relative URL is returned as it is.
func urlPath(s, account string) (string, error) {
	const scheme = "imap://"
	if len(s) < len(scheme) || !strings.EqualFold(s[:len(scheme)], scheme) {
		if strings.HasPrefix(s, "/") || hasPrefixFold(s, ";UID=") {
			return s, nil
		}
		return "", errors.New("not an IMAP URL")
	}
	rest := s[len(scheme):]
	server, path, _ := strings.Cut(rest, "/")
	userinfo, _, ok := strings.Cut(server, "@")
	if !ok {
		return "", errors.New("the URL names no user")
	}
	if i := strings.IndexByte(userinfo, ';'); i >= 0 {
		userinfo = userinfo[:i] // ;AUTH=...
	}
	user, err := url.PathUnescape(userinfo)
	if err != nil || !strings.EqualFold(user, account) {
		return "", errors.New("the URL names another user")
	}
	return "/" + path, nil
}

// mailboxRef parses "enc-mailbox [;UIDVALIDITY=n]".
func mailboxRef(ref string) (string, uint32, error) {
	enc, validity, hasValidity := strings.Cut(ref, ";")
	name, err := url.PathUnescape(enc)
	if err != nil || name == "" || strings.ContainsAny(name, "\x00\r\n") {
		return "", 0, errors.New("bad mailbox name in the URL")
	}
	if strings.EqualFold(name, "INBOX") {
		name = "INBOX"
	}
	if !hasValidity {
		return name, 0, nil
	}
	v, ok := urlParam(validity, "UIDVALIDITY=")
	n, err := strconv.ParseUint(v, 10, 32)
	if !ok || err != nil || n == 0 {
		return "", 0, errors.New("bad UIDVALIDITY in the URL")
	}
	return name, uint32(n), nil
}

// parseMessage parses ";UID=n[/;SECTION=s][/;PARTIAL=o.l]".
func (u *imapURL) parseMessage(path string) error {
	parts := strings.Split(path, "/")
	v, ok := urlParam(parts[0], ";UID=")
	n, err := strconv.ParseUint(v, 10, 32)
	if !ok || err != nil || n == 0 {
		return errors.New("the URL names no message (;UID=)")
	}
	u.uid = uint32(n)
	for i, p := range parts[1:] {
		switch {
		case hasPrefixFold(p, ";SECTION=") && i == 0:
			if u.section, err = urlSection(p[len(";SECTION="):]); err != nil {
				return err
			}
		case hasPrefixFold(p, ";PARTIAL=") && i == len(parts)-2:
			if u.partial, err = parseURLPartial(p[len(";PARTIAL="):]); err != nil {
				return err
			}
		default:
			return errors.New("unsupported URL part " + strconv.Quote(p))
		}
	}
	return nil
}

// urlSection decodes and parses an enc-section (a FETCH section-spec).
func urlSection(enc string) (*goimap.FetchItemBodySection, error) {
	spec, err := url.PathUnescape(enc)
	if err != nil || spec == "" {
		return nil, errors.New("bad SECTION in the URL")
	}
	bs, err := parseSection(spec)
	if err != nil {
		return nil, errors.New("bad SECTION in the URL")
	}
	return bs, nil
}

// parseURLPartial reads "offset[.length]".
func parseURLPartial(s string) (*urlPartial, error) {
	off, length, hasLength := strings.Cut(s, ".")
	o, err := strconv.ParseUint(off, 10, 32)
	if err != nil {
		return nil, errors.New("bad PARTIAL in the URL")
	}
	p := &urlPartial{offset: int64(o), length: -1}
	if hasLength {
		l, err := strconv.ParseUint(length, 10, 32)
		if err != nil || l == 0 {
			return nil, errors.New("bad PARTIAL in the URL")
		}
		p.length = int64(l)
	}
	return p, nil
}

// cut returns the partial's range within size octets.
func (p *urlPartial) cut(size int64) (off, n int64) {
	if p == nil {
		return 0, size
	}
	off = min(p.offset, size)
	n = size - off
	if p.length >= 0 {
		n = min(n, p.length)
	}
	return off, n
}

// urlParam returns what follows name= in s (any case).
func urlParam(s, name string) (string, bool) {
	if !hasPrefixFold(s, name) {
		return "", false
	}
	return s[len(name):], true
}

// badURLText makes a URL fit the BADURL response code (RFC 4469 §5 with
// erratum 2002: any TEXT-CHAR except "]"), bounded in length.
func badURLText(s string) string {
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < 1024; i++ {
		if c := s[i]; c >= 0x20 && c < 0x7f && c != ']' {
			b.WriteByte(c)
		}
	}
	return b.String()
}
