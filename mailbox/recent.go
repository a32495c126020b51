package mailbox

// \Recent (RFC 3501 §2.3.2): a message is recent in exactly one session,
// the first to select its folder read-write after it arrived. Each folder
// keeps one boundary UID: messages from it up have not been claimed yet.
// The boundary lives in memory; when a folder is first loaded it starts
// at the oldest message still in Maildir's new/ (delivered or appended
// and never touched since, as Dovecot and mutt read new/), so mail that
// arrived while the server was down is recent to the next session.

// recentFrom returns the folder's boundary, setting it on first use.
func (f *folder) recentFrom() uint32 {
	if f.recentSet {
		return f.recent
	}
	f.recent, f.recentSet = f.uidNext, true
	for _, m := range f.msgs {
		if m.sub == "new" {
			f.recent = m.uid
			break
		}
	}
	return f.recent
}

// ClaimRecent returns the lowest UID that no session has claimed as
// \Recent: the caller's recent messages are those from it up to upTo
// (the UIDNEXT of the snapshot it shows its client). With claim (a
// read-write SELECT, or new messages seen by one), later callers no
// longer get those.
func (s *Store) ClaimRecent(account, folder string, upTo uint32, claim bool) (from uint32, err error) {
	a, f, err := s.lockFolder(account, folder)
	if err != nil {
		return 0, err
	}
	defer a.mu.Unlock()
	from = f.recentFrom()
	if claim && upTo > from {
		f.recent = upTo
	}
	return from, nil
}
