package mailbox

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// MODSEQ (RFC 7162, CONDSTORE/QRESYNC): every message carries a
// modification sequence, a number above 0 that is set when the message
// is stored (delivery, APPEND, COPY, MOVE) and raised whenever its flags
// or keywords change, by a client or by another Maildir program renaming
// its file. Each folder's HIGHESTMODSEQ is the largest MODSEQ it ever
// gave, expunges included: an expunge takes a MODSEQ of its own and is
// logged with it, so that ExpungedSince can answer QRESYNC's VANISHED
// (EARLIER). Every MODSEQ is written to the folder's index (index.go)
// before a client can see it, so it never goes backwards across a
// restart or a SIGKILL.
//
// A change of system flags only (STORE \Seen, the commonest write) is
// written to the index without an fsync, as durable as the Maildir
// rename that holds the flags, which was never fsynced either: a power
// loss may undo both. So that even then no MODSEQ is handed out twice,
// the index holds a reservation ("h" record, fsynced) above every MODSEQ
// given: when HIGHESTMODSEQ reaches it, the next reservation is written
// reserveStep higher, and a restart goes on from the reservation.
//
// The expunge log keeps the last maxExpungeLog expunges. Older ones are
// forgotten and the log's low-water mark rises to the MODSEQ of the last
// one forgotten; asked about expunges since a MODSEQ below that mark,
// ExpungedSince answers every UID below UIDNEXT that is not in the folder,
// which RFC 7162 §3.2.5.1 allows (VANISHED may name UIDs that never
// existed or that the client never saw).

// maxExpungeLog bounds the expunges each folder remembers.
const maxExpungeLog = 4096

// reserveStep is how far above HIGHESTMODSEQ a reservation goes.
const reserveStep = 1024

// expunge is one entry of a folder's expunge log.
type expunge struct {
	uid    uint32
	modseq uint64
}

// modseqs is a folder's MODSEQ state.
type modseqs struct {
	highest uint64 // HIGHESTMODSEQ
	// lowWater: expunges at or below it may be missing from expunged.
	lowWater uint64
	expunged []expunge // ascending modseq
	// reserved: no MODSEQ up to it was given before this process
	// loaded the index, and none above it has been given yet.
	reserved uint64
}

// reserve returns the index record of a new reservation when
// HIGHESTMODSEQ has passed the last one, or "".
func (m *modseqs) reserve() string {
	if m.highest <= m.reserved {
		return ""
	}
	m.reserved = m.highest + reserveStep
	return fmt.Sprintf("h\t%d\n", m.reserved)
}

// seen raises highest to at least ms (reading the index).
func (m *modseqs) seen(ms uint64) { m.highest = max(m.highest, ms) }

// next hands out the folder's next MODSEQ. The first is 2: IMAP
// announces an empty folder's HIGHESTMODSEQ as 1 (0 is not a
// mod-sequence), and a client that remembered that 1 must see the
// folder's first change as a change since.
func (m *modseqs) next() uint64 {
	m.highest = max(m.highest, 1) + 1
	return m.highest
}

// logExpunge records that uid was expunged at ms, forgetting the oldest
// entry when the log is full.
func (m *modseqs) logExpunge(uid uint32, ms uint64) {
	m.expunged = append(m.expunged, expunge{uid: uid, modseq: ms})
	if n := len(m.expunged) - maxExpungeLog; n > 0 {
		m.lowWater = max(m.lowWater, m.expunged[n-1].modseq)
		m.expunged = append(m.expunged[:0], m.expunged[n:]...)
	}
}

// touch gives m the folder's next MODSEQ (its flags changed) and
// returns the index record that makes it durable.
func (f *folder) touch(m *message) string {
	f.vocab.learn(m.keywords)
	m.modseq = f.ms.next()
	m.infoKnown = true
	return flagsRecord(m)
}

// expunged logs m's expunge and returns its index record.
func (f *folder) expunged(m *message) string {
	ms := f.ms.next()
	f.ms.logExpunge(m.uid, ms)
	return removeRecord(m.uid, ms)
}

// adopt gives a message the next MODSEQ as it enters the folder.
func (f *folder) adopt(m *message) {
	f.vocab.learn(m.keywords)
	m.modseq = f.ms.next()
	m.infoKnown = true
}

// UIDRange is an inclusive range of UIDs.
type UIDRange struct{ First, Last uint32 }

// ExpungedSince returns the UIDs expunged from the folder at a MODSEQ
// above modseq, for QRESYNC's VANISHED (EARLIER), as ascending ranges.
// When modseq is below what the expunge log remembers, the answer is
// every UID below UIDNEXT that the folder no longer holds (see above).
func (s *Store) ExpungedSince(account, folder string, modseq uint64) ([]UIDRange, error) {
	a, f, err := s.lockFolder(account, folder)
	if err != nil {
		return nil, err
	}
	defer a.mu.Unlock()
	if modseq < f.ms.lowWater {
		return absentUIDs(f), nil
	}
	var uids []uint32
	for i := len(f.ms.expunged) - 1; i >= 0 && f.ms.expunged[i].modseq > modseq; i-- {
		uids = append(uids, f.ms.expunged[i].uid)
	}
	sort.Slice(uids, func(i, j int) bool { return uids[i] < uids[j] })
	return toRanges(uids), nil
}

// absentUIDs returns the ranges of UIDs below UIDNEXT that f does not
// hold.
func absentUIDs(f *folder) []UIDRange {
	var out []UIDRange
	next := uint32(1)
	for _, m := range f.msgs {
		if m.uid > next {
			out = append(out, UIDRange{next, m.uid - 1})
		}
		next = m.uid + 1
	}
	if f.uidNext > next {
		out = append(out, UIDRange{next, f.uidNext - 1})
	}
	return out
}

// toRanges folds ascending UIDs into ranges.
func toRanges(uids []uint32) []UIDRange {
	var out []UIDRange
	for _, u := range uids {
		if n := len(out); n > 0 && (out[n-1].Last == u || out[n-1].Last+1 == u) {
			out[n-1].Last = u
			continue
		}
		out = append(out, UIDRange{u, u})
	}
	return out
}

// ChangedSince returns the folder's messages whose MODSEQ is above
// modseq (FETCH ... CHANGEDSINCE), in ascending UID order.
func (s *Store) ChangedSince(account, folder string, modseq uint64) ([]MessageInfo, error) {
	a, f, err := s.lockFolder(account, folder)
	if err != nil {
		return nil, err
	}
	defer a.mu.Unlock()
	var out []MessageInfo
	for _, m := range f.msgs {
		if m.modseq > modseq {
			out = append(out, m.info2())
		}
	}
	return out, nil
}

// SetFlagsUnchangedSince is SetFlags with STORE's UNCHANGEDSINCE (RFC
// 7162 §3.1.3): a message whose MODSEQ is above unchangedSince is left
// alone and its UID returned in failed; the others are changed as
// SetFlags does and returned in changed (with their MODSEQ, new only if
// their flags did change). The test and the change happen under one
// lock, so no other session's change can fall between them.
func (s *Store) SetFlagsUnchangedSince(account, folder string, uids []uint32, op FlagOp, flags []string,
	unchangedSince uint64) (changed []MessageInfo, failed []uint32, err error) {
	a, f, err := s.lockFolder(account, folder)
	if err != nil {
		return nil, nil, err
	}
	defer a.mu.Unlock()
	var ok []uint32
	for _, uid := range uids {
		if m := f.find(uid); m != nil && m.modseq > unchangedSince {
			failed = append(failed, uid)
		} else if m != nil {
			ok = append(ok, uid)
		}
	}
	changed, err = a.setFlags(f, ok, op, flags)
	return changed, failed, err
}

// setFlags changes the flags of f's messages with the given UIDs; a.mu
// is held. System flags go into the file names, keywords into the index,
// and each message whose flags change gets a new MODSEQ.
func (a *account) setFlags(f *folder, uids []uint32, op FlagOp, flags []string) ([]MessageInfo, error) {
	letters, keywords := splitFlags(flags)
	var out []MessageInfo
	var records strings.Builder
	var firstErr error
	sync := false // keywords live only in the index: fsync them
	for _, uid := range uids {
		m := f.find(uid)
		if m == nil {
			continue
		}
		info, kws := applyFlags(m.info, m.keywords, op, letters, keywords)
		changed := info != m.info || !sameKeywords(kws, m.keywords)
		sync = sync || !sameKeywords(kws, m.keywords)
		if info != m.info || m.sub == "new" {
			if err := a.renameFlags(f, m, info); err != nil {
				firstErr = errors.Join(firstErr, err)
				continue
			}
		}
		if changed {
			m.keywords = kws
			records.WriteString(f.touch(m))
			a.bump(f)
		}
		out = append(out, m.info2())
	}
	f.restamp()
	if records.Len() > 0 {
		firstErr = errors.Join(firstErr, a.log(f, records.String(), sync))
	} else {
		a.notify()
	}
	return out, firstErr
}
