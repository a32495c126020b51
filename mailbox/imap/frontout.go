package imap

import (
	"bytes"
	"strings"
	"time"
)

// The front's output side: imapserver's responses, gathered until it
// reads again, with the capability lists rewritten where it writes them.

// recv reads from the client, after sending the output held back.
func (f *front) recv(b []byte) (int, error) {
	f.mu.Lock()
	err := f.flushLocked()
	f.reading = err == nil
	c := f.conn
	f.mu.Unlock()
	if err != nil {
		return 0, err
	}
	n, err := c.Read(b)
	f.mu.Lock()
	f.reading = false
	f.mu.Unlock()
	return n, err
}

// maxPending is how much output waits for the next read before it is
// sent anyway.
const maxPending = 32 << 10

// Write sends imapserver's output. imapserver flushes at the end of
// every response line, so a FETCH of 20 messages made 20 TLS records
// and 20 write system calls; the front holds output back until
// imapserver next reads from the client (it has answered by then), or
// until maxPending, or at once while a read is under way (IDLE's updates,
// written while another goroutine waits for DONE). Outside the short
// spells when the front watches output (the greeting, LOGIN,
// AUTHENTICATE, IDLE, a synchronising literal) no line is looked at:
// FETCH is the hot path.
func (f *front) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.mistake != "" {
		n := len(p)
		p = f.fixReply(p)
		if _, err := f.write(p); err != nil {
			return 0, err
		}
		return n, nil
	}
	return f.write(p)
}

// noteMistake arms fixReply with the answer to send instead of
// imapserver's coming SERVERBUG.
func (f *front) noteMistake(reply string) {
	f.mu.Lock()
	f.mistake, f.refused = reply, reply != ""
	f.mu.Unlock()
}

// afterRefusal reports whether the client's last command was refused
// as a mistake (and nothing was sent after it).
func (f *front) afterRefusal() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.refused
}

// serverBug is how imapserver answers any error it does not know.
const serverBug = " NO [SERVERBUG] Internal server error\r\n"

// fixReply puts the noted answer in place of the SERVERBUG status line
// that ends p (imapserver flushes at each status line); f.mu is held.
func (f *front) fixReply(p []byte) []byte {
	if !bytes.HasSuffix(p, []byte(serverBug)) {
		return p
	}
	head := p[:len(p)-len(serverBug)]
	lineStart := bytes.LastIndexByte(head, '\n') + 1
	if bytes.IndexByte(head[lineStart:], ' ') >= 0 {
		return p // not "tag NO [SERVERBUG]..."
	}
	out := append(append([]byte{}, head...), ' ')
	out = append(append(out, f.mistake...), "\r\n"...)
	f.mistake = ""
	return out
}

// write is Write for output that needs no fixing; f.mu is held.
func (f *front) write(p []byte) (int, error) {
	if !f.watching() && len(f.eline) == 0 {
		return f.send(p)
	}
	f.eline = append(f.eline, p...)
	var out []byte
	for f.watching() {
		i := bytes.IndexByte(f.eline, '\n')
		if i < 0 {
			break
		}
		out = append(out, f.egressLine(f.eline[:i+1])...)
		f.eline = f.eline[i+1:]
	}
	if !f.watching() || len(f.eline) > maxHeldOutput {
		out = append(out, f.eline...)
		f.eline = nil
	}
	if len(out) > 0 {
		if _, err := f.send(out); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// send queues output, or writes it when a read is under way or enough
// has gathered. f.mu is held.
func (f *front) send(p []byte) (int, error) {
	if f.reading && len(f.pending) == 0 {
		return f.conn.Write(p)
	}
	f.pending = append(f.pending, p...)
	if f.reading || len(f.pending) >= maxPending {
		if err := f.flushLocked(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// flushLocked writes the held output; f.mu is held. The deadline bounds
// a client that stopped reading (imapserver's own was set for a write
// that has since returned).
func (f *front) flushLocked() error {
	if len(f.pending) == 0 {
		return nil
	}
	f.conn.SetWriteDeadline(time.Now().Add(2 * time.Minute))
	_, err := f.conn.Write(f.pending)
	f.conn.SetWriteDeadline(time.Time{})
	if cap(f.pending) > 2*maxPending {
		f.pending = nil
	} else {
		f.pending = f.pending[:0]
	}
	return err
}

func (f *front) watching() bool { return f.greeting || f.awaitCont || f.cmd.tag != "" }

// egressLine notes what one line of server output means for the client's
// next bytes, and returns it, with our capabilities where it lists them.
func (f *front) egressLine(line []byte) []byte {
	if f.greeting {
		f.greeting = false
		return f.withCaps(line)
	}
	plus := line[0] == '+'
	if f.awaitCont {
		if plus {
			f.literal, f.awaitCont = f.litSize, false
			return line
		}
		if tagged(line, f.curTag) { // refused: no literal follows
			f.awaitCont, f.inCommand = false, false
		}
	}
	if f.cmd.tag == "" {
		return line
	}
	if plus && f.cmd.cont {
		f.contLines++
		return line
	}
	if tagged(line, f.cmd.tag) {
		if f.cmd.login && tagged(line[len(f.cmd.tag)+1:], "OK") {
			f.authed = true
			line = f.withCaps(line)
		}
		f.cmd, f.contLines = inflight{}, 0
	}
	return line
}

// withCaps replaces the list in a [CAPABILITY ...] response code.
func (f *front) withCaps(line []byte) []byte {
	const code = "[CAPABILITY "
	i := bytes.Index(line, []byte(code))
	if i < 0 {
		return line
	}
	j := bytes.IndexByte(line[i:], ']')
	if j < 0 {
		return line
	}
	out := append([]byte{}, line[:i+len(code)]...)
	out = append(out, strings.Join(f.capabilities(), " ")...)
	return append(out, line[i+j:]...)
}

// reply writes the front's own response lines.
func (f *front) reply(lines ...string) error {
	var b []byte
	for _, l := range lines {
		b = append(append(b, l...), "\r\n"...)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pending = append(f.pending, b...) // after what imapserver wrote before
	return f.flushLocked()
}
