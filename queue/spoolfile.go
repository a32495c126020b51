package queue

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"

	"mailgate/internal/mailmsg"
)

// The spool file's format, read back: the magic line, the envelope with
// the message's length and checksum, then the message (docs/spool.md).

// ReadMessage returns a spooled message's envelope and raw bytes.
func (s *Spool) ReadMessage(id string) (*mailmsg.Envelope, []byte, error) {
	if !validID(id) {
		return nil, nil, fmt.Errorf("queue: bad message id %q", id)
	}
	data, err := os.ReadFile(filepath.Join(s.dir, id+msgSuffix))
	if err != nil {
		return nil, nil, err
	}
	return parseSpoolFile(data)
}

// parseSpoolFile splits a spool file into envelope and message.
func parseSpoolFile(data []byte) (*mailmsg.Envelope, []byte, error) {
	if !bytes.HasPrefix(data, []byte(spoolMagic)) {
		return nil, nil, errors.New("not a mailgate spool file")
	}
	rest := data[len(spoolMagic):]
	i := bytes.IndexByte(rest, '\n')
	if i < 0 {
		return nil, nil, io.ErrUnexpectedEOF
	}
	head := spoolHead{Envelope: &mailmsg.Envelope{}}
	if err := json.Unmarshal(rest[:i], &head); err != nil {
		return nil, nil, fmt.Errorf("bad envelope: %v", err)
	}
	env := head.Envelope
	if !validID(env.ID) || len(env.Recipients) == 0 {
		return nil, nil, errors.New("envelope has no id or no recipients")
	}
	raw := rest[i+1:]
	if head.BodyLen == 0 {
		return env, raw, nil // written by a version without the length
	}
	if int64(len(raw)) < head.BodyLen {
		return nil, nil, fmt.Errorf("message cut short: %d of %d bytes", len(raw), head.BodyLen)
	}
	raw = raw[:head.BodyLen] // what follows is a reused file's old bytes
	if crc32.Checksum(raw, crcTable) != head.BodyCRC {
		return nil, nil, errors.New("message does not match its checksum")
	}
	return env, raw, nil
}

// spoolHead is line 2 of a spool file: the envelope, and the length and
// CRC-32C of the message after it. A file from the pool is overwritten
// in place, not emptied first, so bytes of an older message may follow
// the length, and a crash before the batch's flush may leave this
// message's name on a mix of old and new bytes: the length and checksum
// tell, and Recover moves such a file aside (it was never acknowledged).
type spoolHead struct {
	*mailmsg.Envelope
	BodyLen int64  `json:"body_len,omitempty"`
	BodyCRC uint32 `json:"body_crc32c,omitempty"`
}
