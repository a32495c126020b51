package mailbox

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"mailgate/internal/rawfile"
)

// indexName is the per-folder index file. It is an append-only log of
// text lines (human-readable, one record per line, tab-separated):
//
//	mailgate-index	1	<uidvalidity>      header, first line
//	n	<uidnext>                          UIDNEXT at least this
//	+	<uid>	<internaldate>	<size>	<base>	<keywords>
//	-	<uid>                              message gone
//	k	<uid>	<keywords>                 keywords replaced
//
// The Maildir file names stay the truth for which messages exist and for
// their system flags; the index adds what file names cannot hold: UIDs,
// UIDVALIDITY, UIDNEXT, keywords and INTERNALDATE. The log is rewritten
// (compacted) atomically when dead records outnumber live ones.
const indexName = "mailgate-index"

const indexMagic = "mailgate-index"

var errCorruptIndex = errors.New("corrupt index")

type indexState struct {
	uidValidity uint32
	uidNext     uint32
	msgs        map[uint32]*message
	records     int
}

// readIndex loads a folder's index. A missing file returns (nil, nil); a
// damaged one errCorruptIndex. A torn last line (crash during an append)
// is ignored: its message is found again by the rescan.
func readIndex(dir string) (*indexState, error) {
	data, err := os.ReadFile(filepath.Join(dir, indexName))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if i := bytes.LastIndexByte(data, '\n'); i < len(data)-1 {
		data = data[:i+1]
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	st := &indexState{msgs: map[uint32]*message{}}
	first := true
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if first {
			if len(f) != 3 || f[0] != indexMagic || f[1] != "1" {
				return nil, errCorruptIndex
			}
			v, err := strconv.ParseUint(f[2], 10, 32)
			if err != nil || v == 0 {
				return nil, errCorruptIndex
			}
			st.uidValidity, st.uidNext, first = uint32(v), 1, false
			continue
		}
		if err := st.apply(f); err != nil {
			return nil, err
		}
		st.records++
	}
	if first {
		return nil, errCorruptIndex
	}
	return st, sc.Err()
}

// brokenValidity returns the UIDVALIDITY in the header line of a
// damaged index, or 0 when even that cannot be read.
func brokenValidity(dir string) uint32 {
	data, err := os.ReadFile(filepath.Join(dir, indexName))
	if err != nil {
		return 0
	}
	line, _, _ := bytes.Cut(data, []byte("\n"))
	f := strings.Split(string(line), "\t")
	if len(f) != 3 || f[0] != indexMagic {
		return 0
	}
	v, _ := strconv.ParseUint(f[2], 10, 32)
	return uint32(v)
}

func (st *indexState) apply(f []string) error {
	if len(f) < 2 {
		return errCorruptIndex
	}
	uid64, err := strconv.ParseUint(f[1], 10, 32)
	if err != nil || uid64 == 0 {
		return errCorruptIndex
	}
	uid := uint32(uid64)
	switch {
	case f[0] == "n" && len(f) == 2:
		st.uidNext = max(st.uidNext, uid)
	case f[0] == "+" && len(f) == 6:
		date, err1 := time.Parse(time.RFC3339, f[2])
		size, err2 := strconv.ParseInt(f[3], 10, 64)
		if err1 != nil || err2 != nil || f[4] == "" {
			return errCorruptIndex
		}
		st.msgs[uid] = &message{uid: uid, date: date, size: size, base: f[4], keywords: splitKeywords(f[5])}
		st.uidNext = max(st.uidNext, uid+1)
	case f[0] == "-" && len(f) == 2:
		delete(st.msgs, uid)
	case f[0] == "k" && len(f) == 3:
		if m := st.msgs[uid]; m != nil {
			m.keywords = splitKeywords(f[2])
		}
	default:
		return errCorruptIndex
	}
	return nil
}

func splitKeywords(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, " ")
}

func addRecord(m *message) string {
	return fmt.Sprintf("+\t%d\t%s\t%d\t%s\t%s\n", m.uid, m.date.Format(time.RFC3339), m.size, m.base, strings.Join(m.keywords, " "))
}

func removeRecord(uid uint32) string { return fmt.Sprintf("-\t%d\n", uid) }

func keywordRecord(m *message) string {
	return fmt.Sprintf("k\t%d\t%s\n", m.uid, strings.Join(m.keywords, " "))
}

// appendIndex adds records to the log and fsyncs it, so a UID handed to a
// client is never handed out again after a crash.
func appendIndex(dir string, records string) error {
	f, err := rawfile.Open(filepath.Join(dir, indexName), os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	_, err = f.WriteString(records)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// writeIndex replaces the log with a compact one: temp file, fsync,
// rename, fsync the directory.
func writeIndex(dir string, uidValidity, uidNext uint32, msgs []*message) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\t1\t%d\nn\t%d\n", indexMagic, uidValidity, uidNext)
	for _, m := range msgs {
		b.WriteString(addRecord(m))
	}
	tmp := filepath.Join(dir, indexName+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.WriteString(b.String())
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, indexName))
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(dir)
}
