package mailbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"mailgate/internal/rawfile"
)

// QuotaError is returned when a message would take an account over its
// quota. Check it with errors.As(err, &mailbox.QuotaError{}).
type QuotaError struct {
	// Permanent is true when the message is larger than the whole quota,
	// so retrying can never succeed (SMTP 552 5.2.2); otherwise the
	// mailbox is just full for now (452 4.2.2).
	Permanent bool
	Account   string
	Size      int64 // the message
	Used      int64
	Limit     int64
}

func (e QuotaError) Error() string {
	if e.Permanent {
		return fmt.Sprintf("message of %d bytes is larger than the mailbox quota of %d bytes", e.Size, e.Limit)
	}
	return fmt.Sprintf("mailbox full: %d of %d bytes used, message needs %d more", e.Used, e.Limit, e.Size)
}

// checkQuota returns a QuotaError if adding size bytes goes over the
// account's limit; a.mu is held.
func (a *account) checkQuota(size int64) error {
	limit := a.store.quota(a.name)
	used := a.usage + a.pendingSize // a put between reserve and publish (put)
	if limit <= 0 || used+size <= limit {
		return nil
	}
	return QuotaError{Permanent: size > limit, Account: a.name, Size: size, Used: used, Limit: limit}
}

// AppendResult is what APPEND reports (RFC 4315 APPENDUID).
type AppendResult struct {
	UIDValidity uint32
	UID         uint32
}

// Append stores a message in a folder with the given flags; a zero date
// means now. Line endings are stored as CRLF.
func (s *Store) Append(account, folder string, r io.Reader, flags []string, date time.Time) (AppendResult, error) {
	letters, keywords := splitFlags(flags)
	m, f, err := s.put(account, folder, r, "cur", letters, keywords, date)
	if err != nil {
		return AppendResult{}, err
	}
	return AppendResult{UIDValidity: f.uidValidity, UID: m.uid}, nil
}

// Deliver is the local hand-off of the delivery layer. folder "" means
// INBOX; folder is matched to an existing folder as a user+tag tag is
// (see tagFolder), and one that does not exist means INBOX too;
// quarantine puts the message in Junk. Over quota it returns a QuotaError.
func (s *Store) Deliver(ctx context.Context, account, folder string, msg []byte, quarantine bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if limit := s.quota(account); limit > 0 && int64(len(msg)) > limit {
		s.metrics.delivered.WithLabelValues("over_quota").Inc()
		return QuotaError{Permanent: true, Account: account, Size: int64(len(msg)), Limit: limit}
	}
	result := "folder"
	switch {
	case quarantine:
		folder, result = "Junk", "junk"
	default:
		if folder = s.tagFolder(account, folder); folder == "" {
			folder, result = Inbox, "inbox"
		}
	}
	_, _, err := s.put(account, folder, bytes.NewReader(msg), "new", "", nil, time.Time{})
	if errors.Is(err, ErrNoFolder) && folder != Inbox {
		// Junk deleted by the user, or the folder went away meanwhile.
		_, _, err = s.put(account, Inbox, bytes.NewReader(msg), "new", "", nil, time.Time{})
	}
	switch {
	case errors.As(err, &QuotaError{}):
		s.metrics.delivered.WithLabelValues("over_quota").Inc()
	case err != nil:
		s.metrics.delivered.WithLabelValues("error").Inc()
		s.logger.Error("local delivery failed", "account", account, "err", cleanText(err.Error()))
	default:
		s.metrics.delivered.WithLabelValues(result).Inc()
		s.metrics.deliveredSize.Add(float64(len(msg)))
	}
	return err
}

// put stores a message in four steps so that no fsync is made while
// the account lock is held (every FETCH, NOOP and CHECK of the account
// waits for that lock, and under load one fsync took 40 ms):
//
//  1. unlocked: the message is written to tmp/ and fsynced (writeTmp);
//  2. locked, briefly: the quota is checked and the folder's next UID is
//     reserved (reserve); the message is not yet in the folder;
//  3. unlocked: the file is renamed into new/ or cur/, the directory is
//     fsynced and the index record is appended and fsynced (persist), so
//     the message and its UID survive a crash before anyone can see them;
//  4. locked, briefly: the message enters the folder with its MODSEQ
//     (publish), which is logged without an fsync (see modseq.go).
//
// a.putMu keeps one put per account between steps 2 and 4, so UIDs enter
// the folder in order; COPY, MOVE and a rescan pass over the reserved UID
// (takeUID) and publish renumbers the message if one did.
func (s *Store) put(account, folder string, r io.Reader, sub, info string, keywords []string, date time.Time) (*message, *folder, error) {
	a, err := s.lock(account)
	if err != nil {
		return nil, nil, err
	}
	f, err := a.folderForPut(folder)
	a.mu.Unlock()
	if err != nil {
		return nil, nil, err
	}
	now := s.now()
	if date.IsZero() {
		date = now
	}
	tmpName := s.names.next(now.Unix(), int64(now.Nanosecond()/1000))
	size, err := writeTmp(f.dir, tmpName, r, -1)
	if err != nil {
		return nil, nil, err
	}
	tmpPath := filepath.Join(f.dir, "tmp", tmpName)
	m := &message{base: tmpName + ",S=" + strconv.FormatInt(size, 10), sub: sub, info: info, keywords: keywords,
		date: date, size: size, infoKnown: true}
	m.name = m.base
	if sub == "cur" {
		m.name = m.base + ":2," + info
	}
	a.putMu.Lock()
	defer a.putMu.Unlock()
	a.mu.Lock()
	f, dir, err := a.reserve(folder, m)
	a.mu.Unlock()
	if err != nil {
		os.Remove(tmpPath)
		return nil, nil, err
	}
	st, err := persist(dir, tmpPath, m)
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.publish(f, m, err, st); err != nil {
		return nil, nil, err
	}
	return m, f, nil
}

// reserve checks the quota and reserves f's next UID for m; a.mu is held.
// It returns the folder and its directory as they are now.
func (a *account) reserve(folder string, m *message) (*folder, string, error) {
	f, err := a.folderForPut(folder)
	if err != nil {
		return nil, "", err
	}
	if err := a.checkQuota(m.size); err != nil {
		return nil, "", err
	}
	m.uid = f.uidNext
	f.pending, a.pendingSize = m, m.size
	return f, f.dir, nil
}

// persist renames m's temp file into dir and makes it and its index
// record durable. The record's MODSEQ is 0, "not given yet": publish
// logs the real one, and a folder loaded after a power loss that lost
// that record gives the message a fresh one (openFolder). It returns the
// directory's times just before and after the rename, for publish
// (restampAfter).
func persist(dir, tmpPath string, m *message) (renameStamps, error) {
	if persistHook != nil {
		persistHook()
	}
	st := renameStamps{before: subStamp(dir, m.sub)}
	if err := rawfile.Rename(tmpPath, m.path(dir)); err != nil {
		os.Remove(tmpPath)
		return renameStamps{}, err
	}
	st.after = subStamp(dir, m.sub)
	if err := syncDir(filepath.Join(dir, m.sub)); err != nil {
		os.Remove(m.path(dir))
		return renameStamps{}, err
	}
	if err := appendIndex(dir, addRecord(m), true); err != nil {
		// The record may be on disk: its UID must not be given again.
		os.Remove(m.path(dir))
		return renameStamps{}, errors.Join(err, errBurnUID)
	}
	return st, nil
}

// renameStamps are a directory's modification times just before and
// just after a put's rename into it.
type renameStamps struct{ before, after time.Time }

// persistHook, when set by a test, runs as persist begins: the account
// lock is free then, and the test checks that others are served.
var persistHook func()

// errBurnUID marks a persist failure after which the reserved UID may
// be in the index, so it is never handed out again.
var errBurnUID = errors.New("mailbox: index append failed")

// publish ends a put; a.mu is held. persisted is persist's error. The
// message enters f with the next MODSEQ, under the reserved UID unless
// COPY, MOVE or a rescan took UIDs meanwhile, in which case it gets the
// next one and the reserved one is logged as expunged (RFC 7162 lets
// VANISHED name UIDs a client never saw).
// st are the directory's times around persist's rename (restampAfter).
func (a *account) publish(f *folder, m *message, persisted error, st renameStamps) error {
	f.pending, a.pendingSize = nil, 0
	if persisted != nil {
		if errors.Is(persisted, errBurnUID) && f.uidNext == m.uid {
			f.uidNext++
		}
		return persisted
	}
	f.records++
	if a.folders[f.name] != f {
		return nil // renamed or deleted meanwhile: the message went with its directory's index
	}
	f.restampAfter(m.sub, st)
	if f.uidNext != m.uid {
		return a.renumber(f, m)
	}
	f.uidNext++
	a.insert(f, m)
	return a.log(f, flagsRecord(m), false)
}

// subStamp is the modification time of dir's sub directory, or zero.
func subStamp(dir, sub string) time.Time {
	st, err := os.Stat(filepath.Join(dir, sub))
	if err != nil {
		return time.Time{}
	}
	return st.ModTime()
}

// renumber gives a published message the folder's next UID, its
// reserved one having been passed over; the new records are fsynced, as
// UIDs are. This only happens when COPY, MOVE or another program's
// files arrive during a put.
func (a *account) renumber(f *folder, m *message) error {
	old, gone := m.uid, f.ms.next()
	f.ms.logExpunge(old, gone)
	m.uid = f.takeUID()
	a.insert(f, m)
	return a.logRecords(f, removeRecord(old, gone)+addRecord(m))
}
