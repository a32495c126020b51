package loadgen

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"time"
)

// Timeouts of the load tool's SMTP client, those it had with go-smtp: a
// minute for each command, five for the content and its reply.
const (
	commandTimeout = time.Minute
	dataTimeout    = 5 * time.Minute
)

// replyError is a reply that refused a step; errorCode tallies it by Code.
type replyError struct {
	Code int
	Line string // the last reply line, without CRLF
}

func (e *replyError) Error() string { return "smtp: server replied " + e.Line }

// smtpClient is a minimal SMTP client: one command, one reply, no
// pipelining, so that a transaction costs the server the round trips it
// costs with any plain client. It exists because go-smtp's DATA writer
// (net/textproto's dotWriter) handles one byte per call.
type smtpClient struct {
	conn     net.Conn
	r        *bufio.Reader
	line     []byte // the command being written
	eightBit bool   // the server offers 8BITMIME
	startTLS bool   // the server offers STARTTLS
}

// dialSMTP connects, reads the greeting, says EHLO, starts TLS and
// authenticates as o asks.
func dialSMTP(o *SendOptions) (*smtpClient, error) {
	host, _, _ := net.SplitHostPort(o.Addr)
	tc := &tls.Config{InsecureSkipVerify: true, ServerName: host} // loopback benchmark against self-signed certificates
	d := &net.Dialer{Timeout: commandTimeout}
	var conn net.Conn
	var err error
	if o.TLS == "implicit" {
		conn, err = tls.DialWithDialer(d, "tcp", o.Addr, tc)
	} else {
		conn, err = d.Dial("tcp", o.Addr)
	}
	if err != nil {
		return nil, err
	}
	c := &smtpClient{conn: conn, r: bufio.NewReaderSize(conn, 4<<10)}
	if err := c.setUp(o, tc); err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

func (c *smtpClient) setUp(o *SendOptions, tc *tls.Config) error {
	if _, err := c.reply(commandTimeout, 220, false); err != nil {
		return err
	}
	if err := c.hello(); err != nil {
		return err
	}
	if o.TLS == "starttls" {
		if !c.startTLS {
			return errors.New("smtp: the server does not offer STARTTLS")
		}
		if err := c.cmd(commandTimeout, 220, "STARTTLS"); err != nil {
			return err
		}
		tconn := tls.Client(c.conn, tc)
		tconn.SetDeadline(time.Now().Add(commandTimeout))
		if err := tconn.Handshake(); err != nil {
			return err
		}
		tconn.SetDeadline(time.Time{})
		c.conn = tconn
		c.r.Reset(tconn)
		if err := c.hello(); err != nil {
			return err
		}
	}
	if o.User != "" {
		// RFC 4616: authorization identity (empty), user, password.
		cred := base64.StdEncoding.EncodeToString([]byte("\x00" + o.User + "\x00" + o.Password))
		return c.cmd(commandTimeout, 235, "AUTH PLAIN ", cred)
	}
	return nil
}

// hello sends EHLO, and HELO when the server does not know EHLO (500 or
// 502), as go-smtp did.
func (c *smtpClient) hello() error {
	c.eightBit, c.startTLS = false, false
	err := c.send(commandTimeout, "EHLO loadgen.localhost")
	if err == nil {
		_, err = c.reply(commandTimeout, 250, true)
	}
	var re *replyError
	if errors.As(err, &re) && (re.Code == 500 || re.Code == 502) {
		return c.cmd(commandTimeout, 250, "HELO loadgen.localhost")
	}
	return err
}

// mail starts a transaction; BODY=8BITMIME when offered, as go-smtp sent.
func (c *smtpClient) mail(from string) error {
	if c.eightBit {
		return c.cmd(commandTimeout, 250, "MAIL FROM:<", from, "> BODY=8BITMIME")
	}
	return c.cmd(commandTimeout, 250, "MAIL FROM:<", from, ">")
}

// content writes the message, already dot-stuffed and ending with the end
// line, in one write, and reads the reply to it.
func (c *smtpClient) content(msg []byte) error {
	c.conn.SetWriteDeadline(time.Now().Add(dataTimeout))
	if _, err := c.conn.Write(msg); err != nil {
		return err
	}
	_, err := c.reply(dataTimeout, 250, false)
	return err
}

// quit says goodbye; the reply does not matter to the load.
func (c *smtpClient) quit() { c.cmd(commandTimeout, 221, "QUIT") }

func (c *smtpClient) close() { c.conn.Close() }

// cmd sends one command made of parts and reads its reply, which must
// have the code want (three digits) or start with it (two digits).
func (c *smtpClient) cmd(timeout time.Duration, want int, parts ...string) error {
	if err := c.send(timeout, parts...); err != nil {
		return err
	}
	_, err := c.reply(timeout, want, false)
	return err
}

func (c *smtpClient) send(timeout time.Duration, parts ...string) error {
	c.line = c.line[:0]
	for _, p := range parts {
		c.line = append(c.line, p...)
	}
	c.line = append(c.line, "\r\n"...)
	c.conn.SetWriteDeadline(time.Now().Add(timeout))
	_, err := c.conn.Write(c.line)
	return err
}

// reply reads a reply, multi-line or not, and checks its code; ehlo
// notes the extensions it lists.
func (c *smtpClient) reply(timeout time.Duration, want int, ehlo bool) (int, error) {
	c.conn.SetReadDeadline(time.Now().Add(timeout))
	for first := true; ; first = false {
		line, err := c.r.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		line = bytes.TrimRight(line, "\r\n")
		code, last, ok := parseReplyLine(line)
		if !ok {
			return 0, fmt.Errorf("smtp: malformed reply line %q", line)
		}
		if ehlo && !first && len(line) > 4 {
			c.extension(line[4:])
		}
		if !last {
			continue
		}
		if code != want && code/10 != want {
			return code, &replyError{Code: code, Line: string(line)}
		}
		return code, nil
	}
}

// parseReplyLine splits "250-text" or "250 text" (or a bare "250").
func parseReplyLine(line []byte) (code int, last, ok bool) {
	if len(line) < 3 || (len(line) > 3 && line[3] != ' ' && line[3] != '-') {
		return 0, false, false
	}
	for _, b := range line[:3] {
		if b < '0' || b > '9' {
			return 0, false, false
		}
		code = code*10 + int(b-'0')
	}
	return code, len(line) == 3 || line[3] == ' ', true
}

func (c *smtpClient) extension(kw []byte) {
	if i := bytes.IndexByte(kw, ' '); i >= 0 {
		kw = kw[:i]
	}
	switch {
	case bytes.EqualFold(kw, []byte("8BITMIME")):
		c.eightBit = true
	case bytes.EqualFold(kw, []byte("STARTTLS")):
		c.startTLS = true
	}
}
