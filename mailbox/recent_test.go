package mailbox

import (
	"sync"
	"testing"
)

// TestRecentExactlyOneSession: 50 sessions poll a folder while mail
// arrives, each claiming what its snapshot shows as an IMAP session does
// (Messages, then ClaimRecent up to the snapshot's UIDNEXT); a few only
// EXAMINE. Every message is \Recent in exactly one read-write session,
// and an EXAMINE session never takes one.
func TestRecentExactlyOneSession(t *testing.T) {
	t.Parallel()
	s := newTestStore(t, 0)
	const sessions, deliveries = 50, 200
	var mu sync.Mutex
	owner := map[uint32]int{}
	var wg sync.WaitGroup
	done := make(chan struct{})
	for id := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			readOnly := id%10 == 0
			for {
				snap, err := s.Messages(acct, Inbox)
				if err != nil {
					t.Error(err)
					return
				}
				from, err := s.ClaimRecent(acct, Inbox, snap.UIDNext, !readOnly)
				if err != nil {
					t.Error(err)
					return
				}
				if !readOnly {
					mu.Lock()
					for _, m := range snap.Messages {
						if m.UID >= from {
							if prev, ok := owner[m.UID]; ok {
								t.Errorf("UID %d recent in sessions %d and %d", m.UID, prev, id)
							}
							owner[m.UID] = id
						}
					}
					mu.Unlock()
				}
				select {
				case <-done:
					return
				default:
				}
			}
		}()
	}
	for range deliveries {
		mustDeliver(t, s, "", "Subject: r\r\n\r\nr\r\n")
	}
	// One last claim by a fresh read-write session takes what is left.
	close(done)
	wg.Wait()
	snap, _ := s.Messages(acct, Inbox)
	from, _ := s.ClaimRecent(acct, Inbox, snap.UIDNext, true)
	for _, m := range snap.Messages {
		_, claimed := owner[m.UID]
		if claimed == (m.UID >= from) {
			t.Errorf("UID %d: claimed by a session %v, left for the next one %v", m.UID, claimed, m.UID >= from)
		}
	}
	if st, _ := s.Status(acct, Inbox); st.Recent != 0 {
		t.Errorf("STATUS RECENT %d after every message was claimed", st.Recent)
	}
}
