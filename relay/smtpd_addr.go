package relay

import (
	"errors"
	"strings"
)

// addrParser reads the paths of MAIL and RCPT (RFC 5321 section 4.1.2)
// the way go-smtp did, so that the relay policy sees the same addresses:
// a source route ("<@a,@b:user@c>") is dropped, a quoted local part is
// returned unquoted (the relay policy then refuses a quoted "@"), and
// the domain runs to the first space, tab or ">".
type addrParser struct{ s string }

var errBadPath = errors.New("malformed path")

// reversePath is MAIL's path: "<>" (the null sender) or a path.
func (p *addrParser) reversePath() (string, error) {
	if rest, ok := strings.CutPrefix(p.s, "<>"); ok {
		p.s = rest
		return "", nil
	}
	return p.path()
}

// path is "<" [source route ":"] mailbox ">", the brackets optional as
// clients in the wild leave them out.
func (p *addrParser) path() (string, error) {
	bracket := p.accept('<')
	if p.accept('@') {
		i := strings.IndexByte(p.s, ':')
		if i < 0 {
			return "", errBadPath
		}
		p.s = p.s[i+1:]
	}
	mbox, err := p.mailbox()
	if err != nil {
		return "", err
	}
	if bracket && !p.accept('>') {
		return "", errBadPath
	}
	return mbox, nil
}

// mailbox is local-part "@" domain.
func (p *addrParser) mailbox() (string, error) {
	local, err := p.localPart()
	if err != nil || local == "" || !p.accept('@') {
		return "", errBadPath
	}
	end := strings.IndexAny(p.s, " \t>")
	if end < 0 {
		end = len(p.s)
	}
	domain := p.s[:end]
	p.s = p.s[end:]
	if domain == "" {
		return "", errBadPath
	}
	return local + "@" + domain, nil
}

// localPart is a dot-string up to "@", or a quoted string (unquoted).
func (p *addrParser) localPart() (string, error) {
	if !p.accept('"') {
		end := strings.IndexByte(p.s, '@')
		if end < 0 {
			end = len(p.s)
		}
		local := p.s[:end]
		if strings.ContainsAny(local, "()<>[]:;\\,\" \t") {
			return "", errBadPath
		}
		p.s = p.s[end:]
		return local, nil
	}
	var b strings.Builder
	for i := 0; i < len(p.s); i++ {
		switch ch := p.s[i]; ch {
		case '"':
			p.s = p.s[i+1:]
			return b.String(), nil
		case '\\':
			if i+1 == len(p.s) {
				return "", errBadPath
			}
			i++
			b.WriteByte(p.s[i])
		default:
			b.WriteByte(ch)
		}
	}
	return "", errBadPath
}

func (p *addrParser) accept(ch byte) bool {
	if len(p.s) > 0 && p.s[0] == ch {
		p.s = p.s[1:]
		return true
	}
	return false
}
