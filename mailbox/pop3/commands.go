package pop3

import (
	"errors"
	"strconv"
	"strings"
)

// totals counts the messages not marked deleted and their octets.
func (s *session) totals() (n int, size int64) {
	for i, m := range s.msgs {
		if !s.deleted[i] {
			n++
			size += m.Size
		}
	}
	return n, size
}

// number parses a message-number argument and answers the client itself
// when it names no live message.
func (s *session) number(arg, usage string) (int, bool) {
	n, err := strconv.ParseUint(arg, 10, 31)
	if err != nil || n == 0 {
		s.reply("-ERR syntax: %s (message numbers start at 1)", usage)
		return 0, false
	}
	if int(n) > len(s.msgs) {
		s.reply("-ERR no such message, only %d messages in maildrop", len(s.msgs))
		return 0, false
	}
	if s.deleted[n-1] {
		s.reply("-ERR message %d is deleted", n)
		return 0, false
	}
	return int(n), true
}

func (s *session) cmdSTAT(arg string) bool {
	n, size := s.totals()
	s.reply("+OK %d %d", n, size)
	return false
}

func (s *session) cmdLIST(arg string) bool {
	return s.listing(arg, "LIST [message number]", "+OK %d %d", func(i int) any { return s.msgs[i].Size })
}

// cmdUIDL shows each message's unique-id (Message.UIDL).
func (s *session) cmdUIDL(arg string) bool {
	return s.listing(arg, "UIDL [message number]", "+OK %d %s", func(i int) any { return s.msgs[i].UIDL })
}

// listing answers LIST and UIDL: one line for one message, or a multi-line
// response for every message not marked deleted.
func (s *session) listing(arg, usage, single string, value func(i int) any) bool {
	arg = strings.TrimSpace(arg)
	if arg != "" {
		if n, ok := s.number(arg, usage); ok {
			s.reply(single, n, value(n-1))
		}
		return false
	}
	n, size := s.totals()
	s.reply("+OK %d messages (%d octets)", n, size)
	for i := range s.msgs {
		if !s.deleted[i] {
			s.reply("%d %v", i+1, value(i))
		}
	}
	s.reply(".")
	return false
}

func (s *session) cmdRETR(arg string) bool {
	n, ok := s.number(strings.TrimSpace(arg), "RETR <message number>")
	if !ok {
		return false
	}
	return s.send(n, -1, "+OK %d octets", s.msgs[n-1].Size)
}

func (s *session) cmdTOP(arg string) bool {
	const usage = "TOP <message number> <lines>"
	f := strings.Fields(arg)
	if len(f) != 2 {
		s.reply("-ERR syntax: %s", usage)
		return false
	}
	lines, err := strconv.ParseUint(f[1], 10, 31)
	if err != nil {
		s.reply("-ERR syntax: %s (lines is a number, 0 or more)", usage)
		return false
	}
	n, ok := s.number(f[0], usage)
	if !ok {
		return false
	}
	return s.send(n, int(lines), "+OK top of message %d follows", n)
}

// send streams message n: the whole of it when bodyLines < 0, else its
// header and first bodyLines body lines. Once the +OK line is out, a
// failure can only be signalled by closing the connection.
func (s *session) send(n, bodyLines int, okFormat string, okArg any) bool {
	rc, err := s.drop.Open(s.ctx, s.msgs[n-1].UID)
	if errors.Is(err, ErrMessageGone) {
		s.reply("-ERR message %d was removed by another client", n)
		return false
	}
	if err != nil {
		s.internalError("cannot open message", err)
		return false
	}
	defer rc.Close()
	s.reply(okFormat, okArg)
	read, err := copyDotStuffed(s.w, rc, bodyLines)
	s.srv.metrics.retrBytes.Add(float64(read))
	if err != nil {
		s.log.Error("pop3 message transfer failed; closing connection", "err", err, "uid", s.msgs[n-1].UID)
		return true
	}
	return false
}

func (s *session) cmdDELE(arg string) bool {
	n, ok := s.number(strings.TrimSpace(arg), "DELE <message number>")
	if ok {
		s.deleted[n-1] = true
		s.reply("+OK message %d deleted", n)
	}
	return false
}

func (s *session) cmdNOOP(arg string) bool {
	s.reply("+OK")
	return false
}

func (s *session) cmdRSET(arg string) bool {
	clear(s.deleted)
	n, size := s.totals()
	s.reply("+OK maildrop has %d messages (%d octets)", n, size)
	return false
}

// cmdQUIT ends the session. After login it is the UPDATE state of RFC 1939:
// the only place marked messages are removed from the store.
func (s *session) cmdQUIT(arg string) bool {
	if s.state != stateTransaction {
		s.reply("+OK %s POP3 server signing off", s.srv.opts.Hostname)
		return true
	}
	var uids []uint32
	for i, m := range s.msgs {
		if s.deleted[i] {
			uids = append(uids, m.UID)
		}
	}
	if len(uids) > 0 {
		if s.srv.isClosed() {
			return true // a forced close never applies deletions
		}
		if err := s.drop.Delete(s.ctx, uids); err != nil {
			s.log.Error("pop3 cannot remove deleted messages", "err", err, "count", len(uids))
			s.reply("-ERR [SYS/TEMP] some deleted messages not removed; they stay in the maildrop")
			return true
		}
		s.srv.metrics.deleted.Add(float64(len(uids)))
		s.log.Info("pop3 messages deleted", "count", len(uids))
	}
	// Release the maildrop before the +OK, so a client that logs in
	// again as soon as it reads it is not told [IN-USE].
	s.srv.unlock(s.account)
	s.account = ""
	s.reply("+OK %s POP3 server signing off (%d messages deleted)", s.srv.opts.Hostname, len(uids))
	return true
}
