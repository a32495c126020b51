package queue

import (
	"bytes"
	"fmt"
	"hash/crc32"
	"strconv"
)

// A state record, appended to <id>.state by WriteState:
//
//	"\nSTATE <id> <length> <crc32c, 8 hex digits>\n" <length bytes of state>
//
// The last record of this message whose length and checksum hold is its
// state; a torn tail (a crash during the append) is ignored. The id keeps
// a reused inode's old records (see internal/inodepool), should a crash undo its
// truncation, from passing for this message's.
const stateTag = "\nSTATE "

var crcTable = crc32.MakeTable(crc32.Castagnoli)

func stateRecord(id string, state []byte) []byte {
	head := fmt.Sprintf("%s%s %d %08x\n", stateTag, id, len(state), crc32.Checksum(state, crcTable))
	return append([]byte(head), state...)
}

// decodeState returns the state a .state file holds: its last complete
// record, or the whole file when it was written whole by an earlier
// version (records appended to such a file win over it).
func decodeState(id string, b []byte) []byte {
	i := bytes.Index(b, []byte(stateTag))
	if i < 0 {
		return b
	}
	if last := lastStateRecord(id, b[i:]); last != nil || i == 0 {
		return last
	}
	return b[:i]
}

// lastStateRecord returns the last complete record in the bytes after the
// message, or nil.
func lastStateRecord(id string, b []byte) []byte {
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
		if len(f) != 3 {
			return last
		}
		n, err := strconv.Atoi(string(f[1]))
		if err != nil || n < 0 || len(b) < nl+1+n {
			return last
		}
		c, err := strconv.ParseUint(string(f[2]), 16, 32)
		if err != nil {
			return last
		}
		sum = uint32(c)
		rec := b[nl+1 : nl+1+n]
		if crc32.Checksum(rec, crcTable) != sum {
			return last
		}
		if string(f[0]) == id {
			last = rec
		}
		b = b[nl+1+n:]
	}
	return last
}
