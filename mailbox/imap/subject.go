package imap

import (
	"strings"
)

// baseSubject extracts the base subject of RFC 5256 §2.1, which SORT
// SUBJECT and THREAD compare: encoded words decoded, white space
// collapsed, and reply/forward markers ("Re:", "Fwd:", "[list]",
// "(fwd)", "[Fwd: ...]") removed. isReply reports whether any "Re:",
// "Fw:" or "[Fwd: ...]" was removed (THREAD=REFERENCES uses it).
func baseSubject(raw string) (base string, isReply bool) {
	s := strings.Join(strings.Fields(decodeWords(raw)), " ")
	for {
		// (2) trailers: "(fwd)" and white space at the end.
		for {
			t := strings.TrimRight(s, " ")
			if !hasSuffixFold(t, "(fwd)") {
				s = t
				break
			}
			s, isReply = t[:len(t)-len("(fwd)")], true
		}
		// (3)-(4) leaders: blobs and "re:", "fw:", "fwd:", repeatedly.
		for {
			t, reply := trimLeader(s)
			if reply {
				isReply = true
			}
			if t2, ok := trimBlob(t); ok && t2 != "" {
				t = t2
			}
			if t == s {
				break
			}
			s = t
		}
		// (5) "[fwd: ...]" around the whole subject.
		if hasPrefixFold(s, "[fwd:") && strings.HasSuffix(s, "]") {
			s, isReply = strings.TrimSpace(s[len("[fwd:"):len(s)-1]), true
			continue
		}
		return s, isReply
	}
}

// trimLeader removes one subj-leader: *subj-blob subj-refwd, where
// subj-refwd is ("re" / ("fw" ["d"])) *WSP [subj-blob] ":".
func trimLeader(s string) (string, bool) {
	t := s
	for {
		b, ok := trimBlob(t)
		if !ok {
			break
		}
		t = b
	}
	var rest string
	switch {
	case hasPrefixFold(t, "re"):
		rest = t[2:]
	case hasPrefixFold(t, "fwd"):
		rest = t[3:]
	case hasPrefixFold(t, "fw"):
		rest = t[2:]
	default:
		return s, false
	}
	rest = strings.TrimLeft(rest, " ")
	if b, ok := trimBlob(rest); ok {
		rest = b
	}
	if !strings.HasPrefix(rest, ":") {
		return s, false
	}
	return strings.TrimLeft(rest[1:], " "), true
}

// trimBlob removes a leading subj-blob: "[" *BLOBCHAR "]" *WSP, where
// BLOBCHAR is anything but "[" and "]".
func trimBlob(s string) (string, bool) {
	if !strings.HasPrefix(s, "[") {
		return s, false
	}
	end := strings.IndexAny(s[1:], "[]")
	if end < 0 || s[1+end] != ']' {
		return s, false
	}
	return strings.TrimLeft(s[end+2:], " "), true
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

func hasSuffixFold(s, suffix string) bool {
	return len(s) >= len(suffix) && strings.EqualFold(s[len(s)-len(suffix):], suffix)
}
