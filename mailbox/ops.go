package mailbox

import (
	"errors"
	"os"
	"sort"
	"strings"
	"time"

	"mailgate/internal/rawfile"
)

// MessageInfo is what the store knows about one message without reading
// it.
type MessageInfo struct {
	UID          uint32
	Size         int64 // octets, CRLF line endings: RFC822.SIZE, POP3 LIST
	InternalDate time.Time
	Flags        []string // \Seen, \Answered, \Flagged, \Deleted, \Draft, keywords
	// Name is the unique part of the message's Maildir file name: it
	// stays the same for the message's whole life (flag changes, a MOVE,
	// a new UIDVALIDITY) and no other message of the account ever gets it.
	Name string
	// ModSeq is the message's MODSEQ (RFC 7162; modseq.go): above 0,
	// raised on every change of its flags, never lowered.
	ModSeq uint64
}

// Snapshot is a folder's state at one moment.
type Snapshot struct {
	UIDValidity uint32
	UIDNext     uint32
	// ModSeq changes whenever anything in the folder changes; sessions
	// compare it to skip work when nothing did.
	ModSeq uint64
	// HighestModSeq is the folder's HIGHESTMODSEQ (RFC 7162): durable,
	// unlike ModSeq, which is a counter of this process.
	HighestModSeq uint64
	// Keywords is the folder's keyword vocabulary (vocab.go): every
	// keyword its messages have carried, also those no message has now.
	Keywords []string
	Messages []MessageInfo // ascending UID
}

// bump records a change in f.
func (a *account) bump(f *folder) { f.modseq = a.store.seq.Add(1) }

// lockFolder locks an account and loads one of its folders; on success
// the caller must unlock a.mu.
func (s *Store) lockFolder(acct, name string) (*account, *folder, error) {
	a, err := s.lock(acct)
	if err != nil {
		return nil, nil, err
	}
	f, err := a.folder(name)
	if err != nil {
		a.mu.Unlock()
		return nil, nil, err
	}
	return a, f, nil
}

// Messages returns the folder's messages, after picking up changes made
// by other Maildir programs.
func (s *Store) Messages(account, folder string) (*Snapshot, error) {
	a, f, err := s.lockFolder(account, folder)
	if err != nil {
		return nil, err
	}
	defer a.mu.Unlock()
	snap := &Snapshot{UIDValidity: f.uidValidity, UIDNext: f.uidNext, ModSeq: f.modseq,
		HighestModSeq: f.ms.highest, Keywords: append([]string(nil), f.vocab.words...), Messages: make([]MessageInfo, len(f.msgs))}
	for i, m := range f.msgs {
		snap.Messages[i] = m.info2()
	}
	return snap, nil
}

// Infos returns what the store knows about the given messages (missing
// ones are left out), without copying the whole folder as Messages does.
func (s *Store) Infos(account, folder string, uids []uint32) ([]MessageInfo, error) {
	a, f, err := s.lockFolder(account, folder)
	if err != nil {
		return nil, err
	}
	defer a.mu.Unlock()
	out := make([]MessageInfo, 0, len(uids))
	for _, uid := range uids {
		if m := f.find(uid); m != nil {
			out = append(out, m.info2())
		}
	}
	return out, nil
}

// ModSeq returns the folder's change counter (see Snapshot.ModSeq).
func (s *Store) ModSeq(account, folder string) (uint64, error) {
	a, f, err := s.lockFolder(account, folder)
	if err != nil {
		return 0, err
	}
	defer a.mu.Unlock()
	return f.modseq, nil
}

// OpenMessage opens one message for reading. The file stays readable
// even if the message is expunged or renamed while it is open.
func (s *Store) OpenMessage(account, folder string, uid uint32) (*os.File, MessageInfo, error) {
	a, err := s.lock(account)
	if err != nil {
		return nil, MessageInfo{}, err
	}
	defer a.mu.Unlock()
	f, err := a.loadedFolder(folder)
	if err != nil {
		return nil, MessageInfo{}, err
	}
	for attempt := 0; attempt < 2; attempt++ {
		m := f.find(uid)
		if m == nil {
			return nil, MessageInfo{}, ErrNoMessage
		}
		r, err := rawfile.Open(m.path(f.dir), os.O_RDONLY, 0)
		if err == nil {
			return r, m.info2(), nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return nil, MessageInfo{}, err
		}
		// Renamed or removed by another program: look again.
		f.newStamp = time.Time{}
		if err := a.rescan(f); err != nil {
			return nil, MessageInfo{}, err
		}
	}
	return nil, MessageInfo{}, ErrNoMessage
}

// FlagOp says how SetFlags combines flags with a message's current ones.
type FlagOp int

const (
	FlagsReplace FlagOp = iota // STORE FLAGS
	FlagsAdd                   // STORE +FLAGS
	FlagsRemove                // STORE -FLAGS
)

// SetFlags changes the flags of the messages with the given UIDs (missing
// ones are skipped) and returns the messages' new state (see setFlags).
func (s *Store) SetFlags(account, folder string, uids []uint32, op FlagOp, flags []string) ([]MessageInfo, error) {
	a, f, err := s.lockFolder(account, folder)
	if err != nil {
		return nil, err
	}
	defer a.mu.Unlock()
	return a.setFlags(f, uids, op, flags)
}

// renameFlags moves a message's file to cur/<base>:2,<info>.
func (a *account) renameFlags(f *folder, m *message, info string) error {
	name := m.base + ":2," + info
	if err := rawfile.Rename(m.path(f.dir), f.dir+"/cur/"+name); err != nil {
		return err
	}
	m.sub, m.name, m.info = "cur", name, info
	a.bump(f)
	return nil
}

// splitFlags separates system flags (as Maildir letters) from keywords,
// dropping anything that could not be stored safely.
func splitFlags(flags []string) (letters string, keywords []string) {
	for _, fl := range flags {
		if l := letterOf(fl); l != 0 {
			letters += string(l)
		} else if validKeyword(fl) {
			keywords = append(keywords, fl)
		}
	}
	return sortInfo(letters), keywords
}

// validKeyword accepts IMAP atoms that are not system flags.
func validKeyword(k string) bool {
	if k == "" || len(k) > 100 || k[0] == '\\' {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`(){%*"\]`, c) >= 0 {
			return false
		}
	}
	return true
}

func applyFlags(info string, kws []string, op FlagOp, letters string, keywords []string) (string, []string) {
	known := "DFRST"
	switch op {
	case FlagsReplace:
		keep := ""
		for _, c := range []byte(info) {
			if strings.IndexByte(known, c) < 0 {
				keep += string(c)
			}
		}
		return sortInfo(keep + letters), dedupKeywords(keywords)
	case FlagsAdd:
		return sortInfo(info + letters), dedupKeywords(append(append([]string(nil), kws...), keywords...))
	default:
		out := ""
		for _, c := range []byte(info) {
			if strings.IndexByte(letters, c) < 0 {
				out += string(c)
			}
		}
		var rest []string
		for _, k := range kws {
			if !containsFold(keywords, k) {
				rest = append(rest, k)
			}
		}
		return out, rest
	}
}

func dedupKeywords(k []string) []string {
	var out []string
	for _, x := range k {
		if !containsFold(out, x) {
			out = append(out, x)
		}
	}
	return out
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

func sameKeywords(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Expunge removes the folder's messages flagged \Deleted; with only
// non-nil, just those among the given UIDs (UID EXPUNGE). It returns the
// removed UIDs in ascending order.
func (s *Store) Expunge(account, folder string, only []uint32) ([]uint32, error) {
	in := uidSet(only)
	return s.remove(account, folder, func(m *message) bool {
		if strings.IndexByte(m.info, 'T') < 0 {
			return false
		}
		return only == nil || in[m.uid]
	})
}

// ExpungeUIDs removes the given messages whatever their flags (POP3
// DELE applied at QUIT) and returns the UIDs actually removed.
func (s *Store) ExpungeUIDs(account, folder string, uids []uint32) ([]uint32, error) {
	in := uidSet(uids)
	return s.remove(account, folder, func(m *message) bool { return in[m.uid] })
}

func uidSet(uids []uint32) map[uint32]bool {
	in := make(map[uint32]bool, len(uids))
	for _, u := range uids {
		in[u] = true
	}
	return in
}

func (s *Store) remove(account, folder string, match func(*message) bool) ([]uint32, error) {
	a, f, err := s.lockFolder(account, folder)
	if err != nil {
		return nil, err
	}
	defer a.mu.Unlock()
	var gone []uint32
	var records strings.Builder
	var errs error
	kept := f.msgs[:0]
	for _, m := range f.msgs {
		if !match(m) {
			kept = append(kept, m)
			continue
		}
		if err := unlinkMessage(m.path(f.dir)); err != nil {
			errs = errors.Join(errs, err)
			kept = append(kept, m)
			continue
		}
		gone = append(gone, m.uid)
		records.WriteString(f.expunged(m))
		delete(f.byBase, m.base)
		a.usage -= m.size
	}
	clear(f.msgs[len(kept):])
	f.msgs = kept
	if len(gone) == 0 {
		return nil, errs
	}
	a.bump(f)
	f.restamp()
	sort.Slice(gone, func(i, j int) bool { return gone[i] < gone[j] })
	return gone, errors.Join(errs, a.logRecords(f, records.String()))
}

// unlinkMessage removes an expunged message's file name. The inode, and
// so the bytes, live on for as long as a session holds the file open
// (FETCH, POP3 RETR) or another folder's COPY links it; nothing ever
// writes to it again. A file already gone (removed by another Maildir
// program) is no error: the message is gone either way.
func unlinkMessage(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
