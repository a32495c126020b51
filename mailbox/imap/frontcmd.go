package imap

import (
	"crypto/tls"
	"fmt"
	"strconv"
	"strings"
	"time"

	goimap "github.com/emersion/go-imap/v2"
)

// command is a command the front answers, read whole: text[i] is
// followed by the literal lits[i] (the "{N}" marker cut off).
type command struct {
	tag, name string
	text      []string
	lits      []string
}

// answer reads the command at buf[off:] and answers it.
func (f *front) answer() error {
	c, err := f.readCommand()
	if err != nil {
		return err
	}
	switch c.name {
	case "CAPABILITY":
		if !c.args().end() {
			return f.reply(c.tag + " BAD CAPABILITY takes no arguments")
		}
		f.mu.Lock()
		list := strings.Join(f.capabilities(), " ")
		f.mu.Unlock()
		return f.reply("* CAPABILITY "+list, c.tag+" OK CAPABILITY completed")
	case "STARTTLS":
		return f.startTLS(c)
	case "ID":
		f.srv.metrics.commands.WithLabelValues(c.name).Inc()
		return f.reply(f.id(c)...)
	case "LOGIN", "AUTHENTICATE":
		// The reply imapserver gives when it refuses clear-text logins.
		return f.reply(c.tag + " NO [PRIVACYREQUIRED] TLS is required to authenticate")
	}
	if c.name == "UID" {
		c.name = "UID " + uidCommand([]byte(c.text[0]))
	}
	f.srv.metrics.commands.WithLabelValues(c.name).Inc()
	switch c.name {
	case "SORT", "UID SORT":
		return f.reply(f.sortCommand(c, c.name == "UID SORT")...)
	case "THREAD", "UID THREAD":
		return f.reply(f.threadCommand(c, c.name == "UID THREAD")...)
	}
	return f.reply(f.quota(c)...)
}

// readCommand consumes a whole command from the client, literals
// included: "+" before each synchronising one, as imapserver does. A
// literal over 4096 bytes ends the connection, as the guard does for
// imapserver's commands.
func (f *front) readCommand() (*command, error) {
	c := &command{}
	total := 0
	for {
		end, err := f.lineEnd()
		if err != nil {
			return nil, err
		}
		text := trimEOL(f.buf[f.off:end])
		f.off = end
		total += len(text)
		start, size, nonSync, ok := literalMarker(text)
		if !ok {
			c.text = append(c.text, string(text))
			break
		}
		c.text = append(c.text, string(text[:start]))
		if len(c.text) == 1 {
			c.tag, c.name, _ = commandWords(text)
		}
		if size > maxBufferedLiteral || total+int(size) > maxLine {
			return nil, f.closeWith("Literal of " + strconv.FormatInt(size, 10) + " bytes is over the limit of " +
				strconv.Itoa(maxBufferedLiteral) + " bytes for " + c.name + "; closing the connection")
		}
		if !nonSync {
			if err := f.reply("+ Ready for literal data"); err != nil {
				return nil, err
			}
		}
		for len(f.buf)-f.off < int(size) {
			if err := f.fill(); err != nil {
				return nil, err
			}
		}
		c.lits = append(c.lits, string(f.buf[f.off:f.off+int(size)]))
		f.off += int(size)
		total += int(size)
	}
	if len(c.text) == 1 {
		c.tag, c.name, _ = commandWords([]byte(c.text[0]))
	}
	return c, nil
}

// args reads the arguments after the command name.
func (c *command) args() *argReader {
	r := &argReader{c: c}
	_, _, rest := commandWords([]byte(c.text[0]))
	r.s = string(rest)
	return r
}

// argReader reads IMAP astrings: atoms, quoted strings and literals.
type argReader struct {
	c *command
	i int    // literals read so far
	s string // what is left of c.text[i]
}

// next reads SP astring.
func (r *argReader) next() (string, error) {
	if !strings.HasPrefix(r.s, " ") {
		return "", fmt.Errorf("missing argument")
	}
	r.s = r.s[1:]
	if r.s == "" && r.i < len(r.c.lits) {
		v := r.c.lits[r.i]
		r.i++
		r.s = r.c.text[r.i]
		return v, nil
	}
	if strings.HasPrefix(r.s, `"`) {
		return r.quoted()
	}
	n := 0
	for n < len(r.s) && r.s[n] != ' ' {
		if c := r.s[n]; c < 0x21 || c == 0x7f || strings.IndexByte(`(){%*"\`, c) >= 0 {
			return "", fmt.Errorf("%q is not allowed in an atom; quote the argument", string(c))
		}
		n++
	}
	if n == 0 {
		return "", fmt.Errorf("empty argument")
	}
	v := r.s[:n]
	r.s = r.s[n:]
	return v, nil
}

func (r *argReader) quoted() (string, error) {
	var b strings.Builder
	for i := 1; i < len(r.s); i++ {
		switch c := r.s[i]; c {
		case '"':
			r.s = r.s[i+1:]
			return b.String(), nil
		case '\\':
			if i+1 == len(r.s) || (r.s[i+1] != '\\' && r.s[i+1] != '"') {
				return "", fmt.Errorf(`only \\ and \" may be escaped in a quoted string`)
			}
			i++
			b.WriteByte(r.s[i])
		default:
			b.WriteByte(c)
		}
	}
	return "", fmt.Errorf("quoted string without its closing quote")
}

// end reports whether nothing but spaces is left.
func (r *argReader) end() bool {
	return strings.Trim(r.s, " ") == "" && r.i == len(r.c.lits)
}

// capabilities is the list imapserver would give in this state for our
// caps (see its availableCaps), plus QUOTA after login and ID (id.go)
// in every state. f.mu is held.
func (f *front) capabilities() []string {
	var l []string
	add := func(cs ...goimap.Cap) {
		for _, c := range cs {
			if caps.Has(c) {
				l = append(l, string(c))
			}
		}
	}
	add(goimap.CapIMAP4rev2, goimap.CapIMAP4rev1)
	rev1 := caps.Has(goimap.CapIMAP4rev1)
	if rev1 {
		l = append(l, string(goimap.CapSASLIR), string(goimap.CapLiteralMinus))
	}
	if !f.authed {
		if f.srv.opts.TLS != nil && !f.isTLS {
			l = append(l, string(goimap.CapStartTLS))
		}
		if f.authAllowed() {
			return append(l, "AUTH=PLAIN", string(goimap.CapID))
		}
		return append(l, string(goimap.CapLoginDisabled), string(goimap.CapID))
	}
	if rev1 {
		l = append(l, string(goimap.CapUnselect), string(goimap.CapEnable), string(goimap.CapIdle), string(goimap.CapUTF8Accept))
		add(goimap.CapNamespace, goimap.CapUIDPlus, goimap.CapESearch, goimap.CapSearchRes, goimap.CapListExtended,
			goimap.CapListStatus, goimap.CapMove, goimap.CapStatusSize, goimap.CapBinary, goimap.CapChildren)
	}
	add(goimap.CapSpecialUse, goimap.CapCreateSpecialUse, goimap.CapLiteralPlus, goimap.CapUnauthenticate)
	l = append(l, "APPENDLIMIT="+strconv.FormatUint(uint64(f.sess.AppendLimit()), 10))
	l = append(l, string(goimap.CapQuota), "QUOTA=RES-STORAGE", string(goimap.CapSort), "SORT=DISPLAY", "ESORT",
		"THREAD=ORDEREDSUBJECT", "THREAD=REFERENCES")
	return append(l, string(goimap.CapID))
}

// startTLS answers STARTTLS and runs the handshake. Bytes the client
// sent after the command, before TLS, are dropped: run inside TLS they
// would be commands injected by whoever sits on the path.
func (f *front) startTLS(c *command) error {
	f.mu.Lock()
	isTLS, authed := f.isTLS, f.authed
	f.mu.Unlock()
	switch {
	case !c.args().end():
		return f.reply(c.tag + " BAD STARTTLS takes no arguments")
	case f.srv.opts.TLS == nil:
		return f.reply(c.tag + " NO STARTTLS not supported")
	case isTLS || authed:
		return f.reply(c.tag + " BAD STARTTLS not available")
	}
	if err := f.reply(c.tag + " OK Begin TLS negotiation now"); err != nil {
		return err
	}
	if n := len(f.buf) - f.off; n > 0 {
		f.log.Info("imap STARTTLS: dropped bytes sent after the command in clear text", "bytes", n)
	}
	f.buf, f.off = f.buf[:0], 0
	tc := tls.Server(f.raw, f.srv.opts.TLS)
	f.raw.SetDeadline(time.Now().Add(30 * time.Second))
	if err := tc.Handshake(); err != nil {
		f.log.Debug("imap STARTTLS handshake failed", "err", err.Error())
		f.raw.Close()
		return errFrontClosed
	}
	f.raw.SetDeadline(time.Time{})
	f.mu.Lock()
	f.conn, f.isTLS = tc, true
	f.mu.Unlock()
	return nil // answer re-arms the read deadline
}
