package imap

import (
	"bytes"
	"errors"
	"runtime"
	"strconv"
	"strings"
	"sync"
)

// literalGuard closes the connection when a client announces a literal
// larger than we accept. go-imap v2 beta.8 answers such a literal with
// NO [TOOBIG] and then parses the literal's bytes as commands, so a
// rejected APPEND of a message containing "a3 DELETE INBOX" would run
// that command. Dovecot and mox send * BYE and close; so do we.
//
// The guard sees the plaintext stream through imapserver's DebugWriter
// hook, the only place where plaintext is visible after STARTTLS. Bytes
// the client sent arrive from io.TeeReader; what the server wrote comes
// from io.MultiWriter. An ingress chunk that announces an oversized
// literal is refused with an error, so imapserver never sees it.
type literalGuard struct {
	maxLiteral int64
	bye        func(text string) // writes * BYE and closes the connection

	mu        sync.Mutex
	remaining int64 // bytes of the current literal still to come
	awaitCont int64 // size of a synchronising literal the server must accept first
	inCommand bool  // the current line continues a command after a literal
	command   string
	tag       string
	// literalTags are commands that carried a non-synchronising literal
	// and are not yet answered. If one is answered BAD, imapserver may not have read its
	// literal and will parse those bytes as commands, while we skipped
	// them: the connection is closed rather than run out of step.
	literalTags map[string]bool
	head        []byte // start of the current line (for the command name)
	tail        []byte // end of the current line (for a literal announcement)
	failed      bool
}

// maxBufferedLiteral mirrors imapserver's limit on literals that are not
// APPEND data (mailbox names, search strings, passwords).
const maxBufferedLiteral = 4096

var errLiteralRefused = errors.New("imap: oversized literal refused")

// literalRefused ends a connection whose command with a literal was
// refused: imapserver may read the literal's bytes as commands.
const literalRefused = "A command carrying a literal was rejected; closing the connection to stay in step"

func (g *literalGuard) Write(p []byte) (int, error) {
	if isIngress() {
		return g.ingress(p)
	}
	return g.egress(p)
}

// isIngress tells the two directions apart by the caller: imapserver
// wraps the connection's reader in io.TeeReader and its writer in
// io.MultiWriter, both feeding this one writer.
func isIngress() bool {
	pc, _, _, ok := runtime.Caller(2)
	if !ok {
		return false
	}
	f := runtime.FuncForPC(pc)
	return f != nil && f.Name() == "io.(*teeReader).Read"
}

func (g *literalGuard) egress(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.literalTags) > 0 && g.answeredBAD(p) {
		g.failed = true
		g.bye(literalRefused)
		return 0, errLiteralRefused
	}
	if g.awaitCont == 0 || len(p) == 0 {
		return len(p), nil
	}
	if p[0] == '+' {
		g.remaining, g.inCommand = g.awaitCont, true
	} else {
		g.inCommand = false // the command was refused; the client sends no literal
	}
	g.awaitCont = 0
	return len(p), nil
}

// answeredBAD looks at a response (each one is flushed on its own, so it
// starts a write) and forgets answered tags; it reports a BAD answer to a
// command that carried a literal.
func (g *literalGuard) answeredBAD(p []byte) bool {
	sp := bytes.IndexByte(p, ' ')
	if sp <= 0 || !g.literalTags[string(p[:sp])] {
		return false
	}
	delete(g.literalTags, string(p[:sp]))
	// NO [SERVERBUG] is imapserver's answer to an argument its decoder
	// refused (a mailbox name that is not modified UTF-7) before the
	// literal, which it then reads as commands.
	return bytes.HasPrefix(p[sp:], []byte(" BAD")) || bytes.HasPrefix(p[sp:], []byte(" NO [TOOBIG]")) ||
		bytes.HasPrefix(p[sp:], []byte(" NO [SERVERBUG]"))
}

func (g *literalGuard) ingress(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.failed {
		return 0, errLiteralRefused
	}
	for i := 0; i < len(p); {
		switch {
		case g.remaining > 0:
			n := int64(len(p) - i)
			if n > g.remaining {
				n = g.remaining
			}
			g.remaining -= n
			i += int(n)
		case g.awaitCont > 0:
			return g.refuse("Literal data sent before the server's + continuation; wait for it")
		default:
			j := bytes.IndexByte(p[i:], '\n')
			if j < 0 {
				g.addLine(p[i:])
				i = len(p)
				continue
			}
			g.addLine(p[i : i+j])
			i += j + 1
			if text := g.endLine(); text != "" {
				return g.refuse(text)
			}
		}
	}
	return len(p), nil
}

func (g *literalGuard) refuse(text string) (int, error) {
	g.failed = true
	g.bye(text)
	return 0, errLiteralRefused
}

func (g *literalGuard) addLine(b []byte) {
	if room := 64 - len(g.head); room > 0 {
		g.head = append(g.head, b[:min(room, len(b))]...)
	}
	g.tail = append(g.tail, b...)
	if len(g.tail) > 128 {
		g.tail = append(g.tail[:0], g.tail[len(g.tail)-64:]...)
	}
}

// endLine inspects a complete line and returns a BYE text when the
// literal it announces is too big.
func (g *literalGuard) endLine() string {
	if !g.inCommand {
		g.tag, g.command = commandName(g.head)
	}
	line := bytes.TrimSuffix(g.tail, []byte("\r"))
	g.head, g.tail = g.head[:0], g.tail[:0]
	size, nonSync, ok := literalAtEnd(line)
	if !ok {
		g.inCommand = false
		return ""
	}
	limit := int64(maxBufferedLiteral)
	if g.command == "APPEND" {
		limit = g.maxLiteral
	}
	if size > limit {
		return "Literal of " + strconv.FormatInt(size, 10) + " bytes is over the limit of " +
			strconv.FormatInt(limit, 10) + " bytes for " + g.command + "; closing the connection"
	}
	g.inCommand = true
	if nonSync {
		// A synchronising literal is read as soon as the server says +,
		// so only these can be left unread by a refused command.
		if g.literalTags == nil {
			g.literalTags = map[string]bool{}
		}
		if len(g.literalTags) >= 64 {
			return "Too many commands with literals sent without waiting for answers; closing the connection"
		}
		g.literalTags[g.tag] = true
		g.remaining = size
	} else {
		g.awaitCont = size
	}
	if size == 0 {
		g.awaitCont = 0
	}
	return ""
}

// commandName returns the tag and "APPEND" for "a1 APPEND ..." (the
// sub-command after UID).
func commandName(line []byte) (tag, name string) {
	f := strings.Fields(string(line))
	if len(f) < 2 {
		return "", ""
	}
	name = strings.ToUpper(f[1])
	if name == "UID" && len(f) > 2 {
		name = strings.ToUpper(f[2])
	}
	return f[0], name
}

// literalAtEnd parses "{123}" or "{123+}" at the end of a line. An
// unparseable or huge number counts as too big.
func literalAtEnd(line []byte) (size int64, nonSync, ok bool) {
	if len(line) < 3 || line[len(line)-1] != '}' {
		return 0, false, false
	}
	open := bytes.LastIndexByte(line, '{')
	num := line[open+1 : len(line)-1] // open is -1 when only the tail of a long line was kept
	if n := len(num); n > 0 && num[n-1] == '+' {
		nonSync, num = true, num[:n-1]
	}
	if len(num) == 0 {
		return 0, false, false
	}
	for _, c := range num {
		if c < '0' || c > '9' {
			return 0, false, false
		}
	}
	v, err := strconv.ParseInt(string(num), 10, 64)
	if err != nil || open < 0 { // so many digits that the '{' fell out of the kept tail
		return 1 << 62, nonSync, true
	}
	return v, nonSync, true
}
