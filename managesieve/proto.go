package managesieve

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// errLineTooLong and errLiteralTooLarge end the connection: what follows
// cannot be told apart from commands.
var (
	errLineTooLong     = errors.New("command line too long")
	errLiteralTooLarge = errors.New("literal too large")
)

// syntaxError is a malformed command: answered NO, the session goes on.
type syntaxError struct{ msg string }

func (e *syntaxError) Error() string { return e.msg }

// reader reads ManageSieve commands: atoms, quoted strings and literals
// ({N} or {N+}; the server never sends continuations, RFC 5804 section
// 1.5 lets clients send both without waiting).
type reader struct {
	br         *bufio.Reader
	maxLiteral int
}

// readLine reads up to CRLF (or LF), bounded by maxLine.
func (r *reader) readLine() (string, error) {
	var b []byte
	for {
		chunk, err := r.br.ReadSlice('\n')
		b = append(b, chunk...)
		if len(b) > maxLine {
			return "", errLineTooLong
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return "", err
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
}

// command reads one command: its upper-cased name and its arguments.
func (r *reader) command() (string, []string, error) {
	line, err := r.readLine()
	if err != nil {
		return "", nil, err
	}
	var args []string
	for {
		line = strings.TrimLeft(line, " ")
		if line == "" {
			break
		}
		var tok string
		tok, line, err = r.token(line)
		if err != nil {
			return "", nil, err
		}
		args = append(args, tok)
	}
	if len(args) == 0 {
		return "", nil, &syntaxError{"empty command"}
	}
	return strings.ToUpper(args[0]), args[1:], nil
}

// token takes one token off line, reading a literal's bytes and the rest
// of the command line after it when needed.
func (r *reader) token(line string) (string, string, error) {
	switch line[0] {
	case '"':
		return quoted(line)
	case '{':
		end := strings.IndexByte(line, '}')
		if end < 0 || end != len(line)-1 {
			return "", "", &syntaxError{"a literal is {N} or {N+} at the end of a line"}
		}
		n, err := strconv.Atoi(strings.TrimSuffix(line[1:end], "+"))
		if err != nil || n < 0 {
			return "", "", &syntaxError{"bad literal length"}
		}
		if n > r.maxLiteral {
			return "", "", errLiteralTooLarge
		}
		buf := make([]byte, n)
		if _, err := io.ReadFull(r.br, buf); err != nil {
			return "", "", err
		}
		rest, err := r.readLine()
		return string(buf), rest, err
	}
	i := strings.IndexAny(line, " \"{")
	if i < 0 {
		i = len(line)
	}
	return line[:i], line[i:], nil
}

// quoted reads "..." with \\ and \" escapes.
func quoted(line string) (string, string, error) {
	var b strings.Builder
	for i := 1; i < len(line); i++ {
		switch c := line[i]; c {
		case '\\':
			if i+1 < len(line) {
				i++
				b.WriteByte(line[i])
			}
		case '"':
			return b.String(), line[i+1:], nil
		default:
			b.WriteByte(c)
		}
	}
	return "", "", &syntaxError{"unterminated quoted string"}
}

// quote writes s as a quoted string when it can be one, else as a
// literal.
func quote(s string) string {
	if len(s) < 1024 && !strings.ContainsAny(s, "\r\n\x00") {
		return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
	}
	return fmt.Sprintf("{%d}\r\n%s", len(s), s)
}
