package arc

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"strings"
)

// bodyHash is bh= of an in-memory body.
func bodyHash(body []byte, simple bool) string {
	h, _ := bodyHashReader(bytes.NewReader(body), simple)
	return h
}

// bodyHashReader is bh=: the base64 SHA-256 of the canonical body read
// from r, a line at a time, so a body on disk is never held in memory.
// Relaxed (RFC 6376 section 3.4.4): white space at line ends removed,
// inner runs made one space. Both forms drop empty lines at the end;
// simple (section 3.4.3) makes an empty body one CRLF.
func bodyHashReader(r io.Reader, simple bool) (string, error) {
	h := sha256.New()
	br := bufio.NewReaderSize(r, 64<<10)
	blank, wrote := 0, false
	for {
		line, err := br.ReadString('\n')
		if len(line) > 0 {
			l := strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
			if !simple {
				l = collapse(strings.TrimRight(strings.Map(tabToSpace, l), " "))
			}
			if l == "" {
				blank++
			} else {
				io.WriteString(h, strings.Repeat("\r\n", blank)+l+"\r\n")
				blank, wrote = 0, true
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", err
		}
	}
	if simple && !wrote {
		io.WriteString(h, "\r\n")
	}
	return base64.StdEncoding.EncodeToString(h.Sum(nil)), nil
}

func tabToSpace(r rune) rune {
	if r == '\t' {
		return ' '
	}
	return r
}
