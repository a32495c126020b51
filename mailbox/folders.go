package mailbox

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// subscriptionsName lists subscribed folders, one per line.
const subscriptionsName = "mailgate-subscriptions"

// FolderInfo describes one folder for LIST.
type FolderInfo struct {
	Name       string
	SpecialUse string // \Sent, \Drafts, \Trash, \Junk, \Archive or ""
	Subscribed bool
}

// FolderStatus is what STATUS and SELECT report about a folder.
type FolderStatus struct {
	Messages    uint32
	Unseen      uint32
	Deleted     uint32
	Recent      uint32 // not yet claimed by any session (recent.go)
	UIDNext     uint32
	UIDValidity uint32
	Size        int64
	// HighestModSeq is the folder's HIGHESTMODSEQ (RFC 7162, modseq.go).
	HighestModSeq uint64
}

// Folders lists the account's folders, INBOX first, then by name.
func (s *Store) Folders(account string) ([]FolderInfo, error) {
	a, err := s.lock(account)
	if err != nil {
		return nil, err
	}
	defer a.mu.Unlock()
	names, err := a.folderNames()
	if err != nil {
		return nil, err
	}
	sort.Slice(names[1:], func(i, j int) bool { return names[1+i] < names[1+j] })
	subs := readSubscriptions(a.dir)
	out := make([]FolderInfo, 0, len(names))
	for _, n := range names {
		out = append(out, FolderInfo{Name: n, SpecialUse: specialUse(n), Subscribed: subs[n]})
	}
	return out, nil
}

// Subscriptions returns the account's subscribed folder names, sorted,
// including those of folders deleted since.
func (s *Store) Subscriptions(account string) ([]string, error) {
	a, err := s.lock(account)
	if err != nil {
		return nil, err
	}
	defer a.mu.Unlock()
	var out []string
	for n := range readSubscriptions(a.dir) {
		out = append(out, n)
	}
	sort.Strings(out)
	return out, nil
}

// FolderExists reports whether the account has the folder (used for
// user+tag subaddressing).
func (s *Store) FolderExists(account, folder string) bool {
	a, err := s.lock(account)
	if err != nil {
		return false
	}
	defer a.mu.Unlock()
	_, err = a.folder(folder)
	return err == nil
}

// tagFolder returns the folder the tag of a user+tag address names: the
// folder of exactly that name, else the first (in sorted order) whose
// name differs only in case, so that mail to alice+lists and alice+LISTS
// reaches the folder "Lists"; "" when there is none.
func (s *Store) tagFolder(account, tag string) string {
	if tag == "" {
		return ""
	}
	if s.FolderExists(account, tag) {
		return tag
	}
	folders, err := s.Folders(account)
	if err != nil {
		return ""
	}
	for _, f := range folders {
		if strings.EqualFold(f.Name, tag) {
			return f.Name
		}
	}
	return ""
}

// CreateFolder makes a folder, and its parents ("A" for "A/B") when
// missing.
func (s *Store) CreateFolder(account, name string) error {
	c, err := CanonicalFolder(name)
	if err != nil {
		return err
	}
	a, err := s.lock(account)
	if err != nil {
		return err
	}
	defer a.mu.Unlock()
	if _, err := os.Stat(filepath.Join(a.dir, dirName(c))); err == nil {
		return ErrFolderExists
	}
	parts := strings.Split(c, Delimiter)
	for i := range parts {
		if err := makeFolderDir(filepath.Join(a.dir, dirName(strings.Join(parts[:i+1], Delimiter)))); err != nil {
			return err
		}
	}
	if err := syncDir(a.dir); err != nil {
		return err
	}
	_, err = a.openFolder(c)
	a.notify()
	return err
}

// DeleteFolder removes a folder and its messages. Sub-folders stay (they
// are separate Maildir++ directories). INBOX cannot be deleted.
func (s *Store) DeleteFolder(account, name string) error {
	c, err := CanonicalFolder(name)
	if err != nil {
		return err
	}
	if c == Inbox {
		return ErrInboxRefused
	}
	a, err := s.lockNoPut(account)
	if err != nil {
		return err
	}
	defer a.putMu.Unlock()
	defer a.mu.Unlock()
	f, err := a.openFolder(c)
	if err != nil {
		return err
	}
	// Rename first so the folder vanishes at once, then remove the files.
	trash := filepath.Join(a.dir, "mailgate-deleting"+dirName(c))
	if err := os.Rename(f.dir, trash); err != nil {
		return err
	}
	a.unload(c)
	a.notify()
	// The subscription stays (RFC 3501 §6.3.6: the server must not remove
	// a name from the list on its own); LIST shows it \NonExistent.
	return os.RemoveAll(trash)
}

// RenameFolder renames a folder and its sub-folders. Renaming INBOX moves
// its messages into a new folder and leaves INBOX empty (RFC 9051 6.3.6).
func (s *Store) RenameFolder(account, oldName, newName string) error {
	oc, err := CanonicalFolder(oldName)
	if err != nil {
		return err
	}
	nc, err := CanonicalFolder(newName)
	if err != nil {
		return err
	}
	if nc == Inbox {
		return ErrFolderExists
	}
	if oc == Inbox {
		return s.renameInbox(account, nc)
	}
	a, err := s.lockNoPut(account)
	if err != nil {
		return err
	}
	defer a.putMu.Unlock()
	defer a.mu.Unlock()
	if _, err := a.openFolder(oc); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(a.dir, dirName(nc))); err == nil {
		return ErrFolderExists
	}
	names, err := a.folderNames()
	if err != nil {
		return err
	}
	for _, n := range names {
		if n != oc && !strings.HasPrefix(n, oc+Delimiter) {
			continue
		}
		to := nc + strings.TrimPrefix(n, oc)
		if err := os.Rename(filepath.Join(a.dir, dirName(n)), filepath.Join(a.dir, dirName(to))); err != nil {
			return err
		}
		a.unload(n)
		if readSubscriptions(a.dir)[n] {
			setSubscription(a.dir, n, false)
			setSubscription(a.dir, to, true)
		}
	}
	a.notify()
	return syncDir(a.dir)
}

func (s *Store) renameInbox(account, to string) error {
	if err := s.CreateFolder(account, to); err != nil {
		return err
	}
	snap, err := s.Messages(account, Inbox)
	if err != nil {
		return err
	}
	uids := make([]uint32, len(snap.Messages))
	for i, m := range snap.Messages {
		uids[i] = m.UID
	}
	_, err = s.Move(account, Inbox, uids, to)
	return err
}

// Subscribe adds or removes a folder from the subscription list.
func (s *Store) Subscribe(account, name string, on bool) error {
	c, err := CanonicalFolder(name)
	if err != nil {
		return err
	}
	a, err := s.lock(account)
	if err != nil {
		return err
	}
	defer a.mu.Unlock()
	if on {
		if _, err := a.openFolder(c); err != nil {
			return err
		}
	}
	defer a.notify() // NOTIFY's SubscriptionChange
	return setSubscription(a.dir, c, on)
}

func readSubscriptions(dir string) map[string]bool {
	data, _ := os.ReadFile(filepath.Join(dir, subscriptionsName))
	subs := map[string]bool{}
	for _, l := range strings.Split(string(data), "\n") {
		if l != "" {
			subs[l] = true
		}
	}
	return subs
}

func setSubscription(dir, name string, on bool) error {
	subs := readSubscriptions(dir)
	if subs[name] == on {
		return nil
	}
	subs[name] = on
	var names []string
	for n, ok := range subs {
		if ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return writeSubscriptions(dir, names)
}

func writeSubscriptions(dir string, names []string) error {
	tmp := filepath.Join(dir, subscriptionsName+".tmp")
	data := strings.Join(names, "\n") + "\n"
	if err := os.WriteFile(tmp, []byte(data), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, subscriptionsName))
}

// Status counts a folder's messages.
func (s *Store) Status(account, name string) (FolderStatus, error) {
	a, err := s.lock(account)
	if err != nil {
		return FolderStatus{}, err
	}
	defer a.mu.Unlock()
	f, err := a.folder(name)
	if err != nil {
		return FolderStatus{}, err
	}
	st := FolderStatus{Messages: uint32(len(f.msgs)), UIDNext: f.uidNext, UIDValidity: f.uidValidity,
		HighestModSeq: f.ms.highest}
	recent := f.recentFrom()
	for _, m := range f.msgs {
		if m.uid >= recent {
			st.Recent++
		}
		if strings.IndexByte(m.info, 'S') < 0 {
			st.Unseen++
		}
		if strings.IndexByte(m.info, 'T') >= 0 {
			st.Deleted++
		}
		st.Size += m.size
	}
	return st, nil
}

// IsNotFound reports whether err means a folder or message is missing.
func IsNotFound(err error) bool {
	return errors.Is(err, ErrNoFolder) || errors.Is(err, ErrNoMessage)
}

// unload forgets a loaded folder (renamed or deleted on disk); its
// messages no longer count towards the quota until it is loaded again.
func (a *account) unload(name string) {
	f := a.folders[name]
	if f == nil {
		return
	}
	for _, m := range f.msgs {
		a.usage -= m.size
	}
	delete(a.folders, name)
}
