package queue

import (
	"bytes"
	"fmt"
	"hash/crc32"
	"strconv"
)

// A state record, appended to <id>.state by WriteState:
//
//	"\nSTATE <length> <crc32c, 8 hex digits>\n" <length bytes of state>
//
// The last record whose length and checksum hold is the message's state;
// a torn tail (a crash during the append) is ignored.
const stateTag = "\nSTATE "

var crcTable = crc32.MakeTable(crc32.Castagnoli)

func stateRecord(state []byte) []byte {
	head := fmt.Sprintf("%s%d %08x\n", stateTag, len(state), crc32.Checksum(state, crcTable))
	return append([]byte(head), state...)
}

// decodeState returns the state a .state file holds: its last complete
// record, or the whole file when it was written whole by an earlier
// version (records appended to such a file win over it).
func decodeState(b []byte) []byte {
	i := bytes.Index(b, []byte(stateTag))
	if i < 0 {
		return b
	}
	if last := lastStateRecord(b[i:]); last != nil || i == 0 {
		return last
	}
	return b[:i]
}

// lastStateRecord returns the last complete record in the bytes after the
// message, or nil.
func lastStateRecord(b []byte) []byte {
	var last []byte
	for len(b) > 0 {
		if !bytes.HasPrefix(b, []byte(stateTag)) {
			return last
		}
		b = b[len(stateTag):]
		nl := bytes.IndexByte(b, '\n')
		if nl < 0 {
			return last
		}
		var n int
		var sum uint32
		f := bytes.Fields(b[:nl])
		if len(f) != 2 {
			return last
		}
		n, err := strconv.Atoi(string(f[0]))
		if err != nil || n < 0 || len(b) < nl+1+n {
			return last
		}
		c, err := strconv.ParseUint(string(f[1]), 16, 32)
		if err != nil {
			return last
		}
		sum = uint32(c)
		rec := b[nl+1 : nl+1+n]
		if crc32.Checksum(rec, crcTable) != sum {
			return last
		}
		last = rec
		b = b[nl+1+n:]
	}
	return last
}
