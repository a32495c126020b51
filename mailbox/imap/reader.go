package imap

import (
	"bufio"
	"bytes"
	"errors"
	"strconv"
	"strings"
)

// The command reader. A command is read whole into a *command: its
// lines, each cut before the literal that ends it, and the literals
// (up to maxBufferedLiteral each). APPEND's message data is the
// exception: it is streamed to the store, so reading stops at it
// (command.stream) and the APPEND handler goes on from there.

// command is one command as read: text[i] is followed by the literal
// lits[i] (the "{N}" marker cut off).
type command struct {
	tag, name string
	text      []string
	lits      []string
	// stream is message data not yet read: the command's text so far
	// ends where it starts.
	stream *literal
	size   int // bytes of text and literals read, against maxLine
	// literal: an argument came as a literal; if the command is refused
	// as malformed, the connection ends (dispatch).
	literal bool
	// noLiteral: a synchronising literal was refused (not asked for).
	noLiteral bool
}

// literal is a literal announced at the end of a line.
type literal struct {
	size    int64
	nonSync bool // {N+}: the data follows without the server's "+"
	binary  bool // ~{N}: literal8 (RFC 3516), may hold any octet
}

// readCommand reads the next command; nil for an empty line.
func (c *conn) readCommand() (*command, error) {
	cmd := &command{}
	if err := c.readLines(cmd); err != nil {
		return nil, err
	}
	if len(cmd.text) == 1 && cmd.text[0] == "" {
		return nil, nil
	}
	cmd.tag, cmd.name, _ = commandWords([]byte(cmd.text[0]))
	return cmd, nil
}

// readLines reads lines into cmd until one ends without a literal, or
// with APPEND's message data (left in cmd.stream for the caller).
func (c *conn) readLines(cmd *command) error {
	for {
		text, err := c.readLine(cmd)
		if err != nil {
			return err
		}
		lit, start, ok := literalAt(text)
		if ok && openQuote(text[:start]) {
			// Whether the marker is literal data or the quote's text, the
			// client and we would disagree on what follows: nothing after
			// it may run.
			return &protoError{"Quoted string not closed at the end of the line; closing the connection"}
		}
		if !ok {
			cmd.text = append(cmd.text, string(text))
			return nil
		}
		cmd.text = append(cmd.text, string(text[:start]))
		if len(cmd.text) == 1 {
			cmd.tag, cmd.name, _ = commandWords(text)
		}
		if c.isMessageData(cmd) {
			if lit.size > c.srv.opts.MaxLiteral {
				return &protoError{"Literal of " + strconv.FormatInt(lit.size, 10) + " bytes is over the limit of " +
					strconv.FormatInt(c.srv.opts.MaxLiteral, 10) + " bytes for APPEND; closing the connection"}
			}
			cmd.stream, cmd.literal = &lit, true
			return nil
		}
		if !lit.nonSync && !c.takesArgs(cmd.name) {
			// Refused before "+": the client sends no literal, and the
			// command gets BAD (dispatch).
			cmd.noLiteral = true
			return nil
		}
		if err := c.readLiteral(cmd, lit); err != nil {
			return err
		}
	}
}

// isMessageData reports whether the literal ending the last line read
// is APPEND's message data: in APPEND, every literal but the mailbox
// name ("tag APPEND {N}") is.
func (c *conn) isMessageData(cmd *command) bool {
	if cmd.name != "APPEND" {
		return false
	}
	if len(cmd.text) > 1 {
		return true
	}
	_, _, rest := commandWords([]byte(cmd.text[0]))
	return strings.TrimSpace(string(rest)) != ""
}

// readLiteral reads a literal argument into cmd.lits.
func (c *conn) readLiteral(cmd *command, lit literal) error {
	if lit.size > maxBufferedLiteral || cmd.size+int(lit.size) > maxLine {
		return &protoError{"Literal of " + strconv.FormatInt(lit.size, 10) + " bytes is over the limit of " +
			strconv.Itoa(maxBufferedLiteral) + " bytes for " + cmd.name + "; closing the connection"}
	}
	if !lit.nonSync {
		if err := c.write("+ Ready for literal data"); err != nil {
			return err
		}
	}
	buf := make([]byte, lit.size)
	if _, err := readFull(c.br, buf); err != nil {
		return err
	}
	cmd.lits = append(cmd.lits, string(buf))
	cmd.literal = true
	cmd.size += len(buf)
	return nil
}

// readLine reads one line, without its CRLF.
func (c *conn) readLine(cmd *command) ([]byte, error) {
	var line []byte
	for {
		part, err := c.br.ReadSlice('\n')
		line = append(line, part...)
		if cmd.size+len(line) >= maxLine && !bytes.HasSuffix(line, []byte("\n")) || cmd.size+len(line) > maxLine+2 {
			return nil, tooLong()
		}
		if err == nil {
			break
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return nil, err
		}
	}
	cmd.size += len(line)
	if hasBareCR(line) || !bytes.HasSuffix(line, []byte("\r\n")) && bytes.IndexByte(line, '\r') >= 0 {
		return nil, &protoError{"Bare CR in a command line; end lines with CRLF"}
	}
	return trimEOL(line), nil
}

func readFull(br *bufio.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := br.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// literalAt parses "{123}", "{123+}" or "~{123}" at the end of a line;
// start is where the marker begins. A number too big to parse counts
// as huge.
func literalAt(text []byte) (lit literal, start int, ok bool) {
	start, size, nonSync, ok := literalMarker(text)
	if !ok {
		return literal{}, 0, false
	}
	lit = literal{size: size, nonSync: nonSync}
	if start > 0 && text[start-1] == '~' {
		lit.binary = true
		start--
	}
	return lit, start, true
}

// skipLiteral drops message data the command will not use, so the
// client's next bytes are read as the next command. A synchronising
// literal was never asked for, so nothing follows it.
func (c *conn) skipLiteral(lit *literal) error {
	if lit == nil || !lit.nonSync {
		return nil
	}
	_, err := c.br.Discard(int(lit.size))
	return err
}

// commandWords splits "tag NAME rest" at its first two spaces; the name
// is upper-cased.
func commandWords(text []byte) (tag, name string, rest []byte) {
	sp := bytes.IndexByte(text, ' ')
	if sp < 0 {
		return string(text), "", nil
	}
	tag, text = string(text[:sp]), text[sp+1:]
	if sp = bytes.IndexByte(text, ' '); sp >= 0 {
		return tag, strings.ToUpper(string(text[:sp])), text[sp:]
	}
	return tag, strings.ToUpper(string(text)), nil
}

// literalMarker parses "{123}" or "{123+}" at the end of a line (start
// is the index of '{'). A number too big to parse counts as huge.
func literalMarker(text []byte) (start int, size int64, nonSync, ok bool) {
	if len(text) < 3 || text[len(text)-1] != '}' {
		return 0, 0, false, false
	}
	start = bytes.LastIndexByte(text, '{')
	if start < 0 {
		return 0, 0, false, false
	}
	num := text[start+1 : len(text)-1]
	if n := len(num); n > 0 && num[n-1] == '+' {
		nonSync, num = true, num[:n-1]
	}
	if len(num) == 0 {
		return 0, 0, false, false
	}
	for _, c := range num {
		if c < '0' || c > '9' {
			return 0, 0, false, false
		}
	}
	size, err := strconv.ParseInt(string(num), 10, 64)
	if err != nil {
		size = 1 << 62
	}
	return start, size, nonSync, true
}

func trimEOL(line []byte) []byte {
	line = bytes.TrimSuffix(line, []byte("\n"))
	return bytes.TrimSuffix(line, []byte("\r"))
}

// hasBareCR reports a CR that does not end the line.
func hasBareCR(line []byte) bool {
	i := bytes.IndexByte(line, '\r')
	return i >= 0 && i != len(line)-2
}

// openQuote reports whether text (one line, without its CRLF) leaves a
// quoted string open. Outside quotes a backslash is an ordinary
// character (\Seen); inside, it escapes the next one.
func openQuote(text []byte) bool {
	in := false
	for i := 0; i < len(text); i++ {
		switch c := text[i]; {
		case !in:
			in = c == '"'
		case c == '\\':
			i++
		case c == '"':
			in = false
		}
	}
	return in
}

// takesArgs reports whether a command may carry a literal; a
// synchronising literal for one that may not is refused before the
// client sends it.
func (c *conn) takesArgs(name string) bool {
	switch name {
	case "CAPABILITY", "NOOP", "LOGOUT", "STARTTLS", "CHECK", "CLOSE", "UNSELECT", "EXPUNGE", "IDLE", "NAMESPACE":
		return false
	}
	_, known := c.srv.commands[name]
	return known || name == "UID"
}
