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
//	h	<modseq>                           HIGHESTMODSEQ at least this (reserve)
//	l	<modseq>                           expunges up to this are forgotten
//	+	<uid>	<internaldate>	<size>	<base>	<keywords>	<modseq>	<flag letters>
//	                                   (modseq 0: given by the "f" record that follows)
//	-	<uid>	<modseq>                   message expunged at modseq
//	f	<uid>	<modseq>	<flag letters>	<keywords>   flags changed
//	w	<keyword>                          in the vocabulary (vocab.go)
//
// Older versions wrote "+" without the last two fields, "-" without the
// modseq and "k <uid> <keywords>"; such an index is read (MODSEQ 1 for
// its messages, its expunges forgotten) and rewritten at once.
//
// The Maildir file names stay the truth for which messages exist and for
// their system flags; the index adds what file names cannot hold: UIDs,
// UIDVALIDITY, UIDNEXT, keywords, INTERNALDATE and MODSEQs (modseq.go),
// with the flag letters each MODSEQ was given for, so that a rename by
// another program while mailgate was down is seen as a change. The log is
// rewritten (compacted) atomically when dead records outnumber live ones.
const indexName = "mailgate-index"

const indexMagic = "mailgate-index"

var errCorruptIndex = errors.New("corrupt index")

type indexState struct {
	uidValidity uint32
	uidNext     uint32
	msgs        map[uint32]*message
	records     int
	modseqs     modseqs
	vocab       vocab // keyword vocabulary (vocab.go)
	// legacy is set when a record lacks the fields of MODSEQ: the index
	// is rewritten in today's format once loaded.
	legacy bool
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
	if f[0] == "h" || f[0] == "l" {
		return st.applyModSeq(f)
	}
	if f[0] == "w" && len(f) == 2 && validKeyword(f[1]) {
		st.vocab.learn(f[1:])
		return nil
	}
	uid64, err := strconv.ParseUint(f[1], 10, 32)
	if err != nil || uid64 == 0 {
		return errCorruptIndex
	}
	uid := uint32(uid64)
	switch {
	case f[0] == "n" && len(f) == 2:
		st.uidNext = max(st.uidNext, uid)
	case f[0] == "+" && (len(f) == 6 || len(f) == 8):
		return st.applyAdd(uid, f)
	case f[0] == "-" && (len(f) == 2 || len(f) == 3):
		return st.applyRemove(uid, f)
	case f[0] == "f" && len(f) == 5:
		ms, err := parseModSeq(f[2])
		if err != nil {
			return err
		}
		st.modseqs.seen(ms)
		st.vocab.learn(splitKeywords(f[4]))
		if m := st.msgs[uid]; m != nil {
			m.modseq, m.info, m.keywords = ms, f[3], splitKeywords(f[4])
		}
	case f[0] == "k" && len(f) == 3:
		st.legacy = true
		st.vocab.learn(splitKeywords(f[2]))
		if m := st.msgs[uid]; m != nil {
			m.keywords = splitKeywords(f[2])
		}
	default:
		return errCorruptIndex
	}
	return nil
}

// applyModSeq reads an "h" or "l" record.
func (st *indexState) applyModSeq(f []string) error {
	if len(f) != 2 {
		return errCorruptIndex
	}
	ms, err := parseModSeq(f[1])
	if err != nil {
		return err
	}
	st.modseqs.seen(ms)
	if f[0] == "l" {
		st.modseqs.lowWater = max(st.modseqs.lowWater, ms)
	}
	return nil
}

// applyAdd reads a "+" record.
func (st *indexState) applyAdd(uid uint32, f []string) error {
	date, err1 := time.Parse(time.RFC3339, f[2])
	size, err2 := strconv.ParseInt(f[3], 10, 64)
	if err1 != nil || err2 != nil || f[4] == "" {
		return errCorruptIndex
	}
	m := &message{uid: uid, date: date, size: size, base: f[4], keywords: splitKeywords(f[5])}
	st.vocab.learn(m.keywords)
	switch {
	case len(f) == 8 && f[6] == "0":
		// Stored by a put whose MODSEQ record a power loss took
		// (append.go): openFolder gives it a fresh one.
		m.info, m.infoKnown = f[7], true
	case len(f) == 8:
		ms, err := parseModSeq(f[6])
		if err != nil {
			return err
		}
		m.modseq, m.info, m.infoKnown = ms, f[7], true
		st.modseqs.seen(ms)
	default:
		st.legacy = true
	}
	st.msgs[uid] = m
	st.uidNext = max(st.uidNext, uid+1)
	return nil
}

// applyRemove reads a "-" record; one without a MODSEQ (older versions)
// makes every expunge so far unknown.
func (st *indexState) applyRemove(uid uint32, f []string) error {
	delete(st.msgs, uid)
	if len(f) == 2 {
		st.legacy = true
		st.modseqs.lowWater = st.modseqs.highest
		return nil
	}
	ms, err := parseModSeq(f[2])
	if err != nil {
		return err
	}
	st.modseqs.seen(ms)
	st.modseqs.logExpunge(uid, ms)
	return nil
}

func parseModSeq(s string) (uint64, error) {
	ms, err := strconv.ParseUint(s, 10, 63)
	if err != nil || ms == 0 {
		return 0, errCorruptIndex
	}
	return ms, nil
}

func splitKeywords(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, " ")
}

func addRecord(m *message) string {
	return fmt.Sprintf("+\t%d\t%s\t%d\t%s\t%s\t%d\t%s\n", m.uid, m.date.Format(time.RFC3339), m.size, m.base,
		strings.Join(m.keywords, " "), m.modseq, m.info)
}

func removeRecord(uid uint32, modseq uint64) string { return fmt.Sprintf("-\t%d\t%d\n", uid, modseq) }

// flagsRecord records a message's new flags and the MODSEQ they got.
func flagsRecord(m *message) string {
	return fmt.Sprintf("f\t%d\t%d\t%s\t%s\n", m.uid, m.modseq, m.info, strings.Join(m.keywords, " "))
}

// appendIndex adds records to the log and, with sync, fsyncs it, so a
// UID handed to a client is never handed out again after a crash.
func appendIndex(dir string, records string, sync bool) error {
	f, err := rawfile.Open(filepath.Join(dir, indexName), os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	_, err = f.WriteString(records)
	if err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// writeIndex replaces the log with a compact one: temp file, fsync,
// rename, fsync the directory.
func writeIndex(dir string, uidValidity, uidNext uint32, msgs []*message, ms *modseqs, v *vocab) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\t1\t%d\nn\t%d\n", indexMagic, uidValidity, uidNext)
	if h := max(ms.highest, ms.reserved); h > 0 {
		fmt.Fprintf(&b, "h\t%d\n", h)
	}
	if ms.lowWater > 0 {
		fmt.Fprintf(&b, "l\t%d\n", ms.lowWater)
	}
	for _, m := range msgs {
		b.WriteString(addRecord(m))
	}
	for _, e := range ms.expunged {
		b.WriteString(removeRecord(e.uid, e.modseq))
	}
	b.WriteString(v.records())
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
