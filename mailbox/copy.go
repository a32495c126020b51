package mailbox

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// CopyResult maps source UIDs to the new UIDs in the destination (RFC
// 4315 COPYUID), in the same order.
type CopyResult struct {
	UIDValidity uint32
	Source      []uint32
	Dest        []uint32
}

// Copy copies messages (flags, keywords and INTERNALDATE kept) into dst.
// Files are hard-linked when the file system allows, so a copy costs no
// data writes.
func (s *Store) Copy(account, src string, uids []uint32, dst string) (CopyResult, error) {
	a, err := s.lock(account)
	if err != nil {
		return CopyResult{}, err
	}
	defer a.mu.Unlock()
	from, to, err := a.pair(src, dst)
	if err != nil {
		return CopyResult{}, err
	}
	msgs := pick(from, uids)
	var total int64
	for _, m := range msgs {
		total += m.size
	}
	if err := a.checkQuota(total); err != nil {
		return CopyResult{}, err
	}
	res := CopyResult{UIDValidity: to.uidValidity}
	var records strings.Builder
	var errs error
	for _, m := range msgs {
		now := s.now()
		base := s.names.next(now.Unix(), int64(now.Nanosecond()/1000)) + ",S=" + strconv.FormatInt(m.size, 10)
		c := &message{base: base, sub: "cur", name: base + ":2," + m.info, info: m.info,
			keywords: append([]string(nil), m.keywords...), date: m.date, size: m.size}
		if err := linkOrCopy(m.path(from.dir), to.dir, c); err != nil {
			errs = errors.Join(errs, err)
			continue
		}
		c.uid = to.takeUID()
		a.insert(to, c)
		records.WriteString(addRecord(c))
		res.Source = append(res.Source, m.uid)
		res.Dest = append(res.Dest, c.uid)
	}
	if records.Len() == 0 {
		return res, errs
	}
	errs = errors.Join(errs, syncDir(filepath.Join(to.dir, "cur")))
	to.restamp()
	return res, errors.Join(errs, a.logRecords(to, records.String()))
}

// linkOrCopy makes c's file in dir from the file at from.
func linkOrCopy(from, dir string, c *message) error {
	target := c.path(dir)
	if err := os.Link(from, target); err == nil {
		return nil
	}
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := filepath.Join(dir, "tmp", c.base)
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, target)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// Move moves messages to dst by renaming their files, so nothing is
// copied and the quota does not change. The source messages are expunged.
func (s *Store) Move(account, src string, uids []uint32, dst string) (CopyResult, error) {
	a, err := s.lock(account)
	if err != nil {
		return CopyResult{}, err
	}
	from, to, err := a.pair(src, dst)
	if err != nil {
		a.mu.Unlock()
		return CopyResult{}, err
	}
	if from == to {
		a.mu.Unlock()
		res, err := s.Copy(account, src, uids, dst)
		if err != nil {
			return res, err
		}
		_, err = s.ExpungeUIDs(account, src, res.Source)
		return res, err
	}
	defer a.mu.Unlock()
	res := CopyResult{UIDValidity: to.uidValidity}
	var added, removed strings.Builder
	var errs error
	for _, m := range pick(from, uids) {
		c := &message{base: m.base, sub: "cur", name: m.base + ":2," + m.info, info: m.info,
			keywords: m.keywords, date: m.date, size: m.size}
		if to.byBase[c.base] != nil {
			continue
		}
		if err := os.Rename(m.path(from.dir), c.path(to.dir)); err != nil {
			errs = errors.Join(errs, err)
			continue
		}
		a.detach(from, m)
		removed.WriteString(from.expunged(m))
		c.uid = to.takeUID()
		a.insert(to, c)
		added.WriteString(addRecord(c))
		res.Source = append(res.Source, m.uid)
		res.Dest = append(res.Dest, c.uid)
	}
	if added.Len() == 0 {
		return res, errs
	}
	errs = errors.Join(errs, syncDir(filepath.Join(to.dir, "cur")), syncDir(filepath.Join(from.dir, "cur")))
	from.restamp()
	to.restamp()
	errs = errors.Join(errs, a.logRecords(to, added.String()), a.logRecords(from, removed.String()))
	return res, errs
}

// pair opens a source and a destination folder; a.mu is held.
func (a *account) pair(src, dst string) (*folder, *folder, error) {
	from, err := a.folder(src)
	if err != nil {
		return nil, nil, err
	}
	to, err := a.folder(dst)
	if err != nil {
		return nil, nil, err
	}
	return from, to, nil
}

// pick returns f's messages with the given UIDs, in ascending UID order.
func pick(f *folder, uids []uint32) []*message {
	in := uidSet(uids)
	var out []*message
	for _, m := range f.msgs {
		if in[m.uid] {
			out = append(out, m)
		}
	}
	return out
}

// detach removes m from f's list.
func (a *account) detach(f *folder, m *message) {
	for i, x := range f.msgs {
		if x == m {
			f.msgs = append(f.msgs[:i], f.msgs[i+1:]...)
			break
		}
	}
	delete(f.byBase, m.base)
	a.usage -= m.size
	a.bump(f)
}
