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
	if limit <= 0 || a.usage+size <= limit {
		return nil
	}
	return QuotaError{Permanent: size > limit, Account: a.name, Size: size, Used: a.usage, Limit: limit}
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

// put writes a message to tmp/ without holding the account lock (it is
// the slow part), then, locked, checks the quota, renames it into sub
// (fsyncing the directory) and gives it the next UID.
func (s *Store) put(account, folder string, r io.Reader, sub, info string, keywords []string, date time.Time) (*message, *folder, error) {
	a, err := s.lock(account)
	if err != nil {
		return nil, nil, err
	}
	f, err := a.folder(folder)
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
	a.mu.Lock()
	defer a.mu.Unlock()
	m, f, err := a.commit(folder, tmpPath, tmpName+",S="+strconv.FormatInt(size, 10), sub, info, keywords, date, size)
	if err != nil {
		os.Remove(tmpPath)
		return nil, nil, err
	}
	return m, f, nil
}

// commit moves a written temp file into the folder; a.mu is held.
func (a *account) commit(folder, tmpPath, base, sub, info string, keywords []string, date time.Time, size int64) (*message, *folder, error) {
	f, err := a.folder(folder)
	if err != nil {
		return nil, nil, err
	}
	if err := a.checkQuota(size); err != nil {
		return nil, nil, err
	}
	m := &message{base: base, sub: sub, name: base, info: info, keywords: keywords, date: date, size: size}
	if sub == "cur" {
		m.name = base + ":2," + info
	}
	if err := rawfile.Rename(tmpPath, m.path(f.dir)); err != nil {
		return nil, nil, err
	}
	if err := syncDir(filepath.Join(f.dir, sub)); err != nil {
		return nil, nil, err
	}
	m.uid = f.uidNext
	f.uidNext++
	a.insert(f, m)
	f.restamp()
	return m, f, a.logRecords(f, addRecord(m))
}
