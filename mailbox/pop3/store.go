package pop3

import (
	"context"
	"errors"
	"fmt"
	"io"

	"mailgate/mailbox"
)

// NewStore serves POP3 from the mailbox store: an account's maildrop is
// its INBOX, UIDL values are INBOX's IMAP UIDs, and QUIT expunges the
// deleted messages whatever their IMAP flags.
func NewStore(s *mailbox.Store) Store { return mailboxStore{s} }

type mailboxStore struct{ s *mailbox.Store }

// OpenMaildrop checks nothing itself: the store creates an account's
// Maildir on first use, and List reports a bad account.
func (m mailboxStore) OpenMaildrop(ctx context.Context, account string) (Maildrop, error) {
	return inbox{m.s, account}, nil
}

type inbox struct {
	s       *mailbox.Store
	account string
}

func (i inbox) List(ctx context.Context) ([]Message, error) {
	snap, err := i.s.Messages(i.account, mailbox.Inbox)
	if err != nil {
		return nil, err
	}
	out := make([]Message, len(snap.Messages))
	for n, m := range snap.Messages {
		out[n] = Message{UID: m.UID, Size: m.Size}
	}
	return out, nil
}

func (i inbox) Open(ctx context.Context, uid uint32) (io.ReadCloser, error) {
	f, _, err := i.s.OpenMessage(i.account, mailbox.Inbox, uid)
	if errors.Is(err, mailbox.ErrNoMessage) {
		return nil, fmt.Errorf("uid %d: %w", uid, ErrMessageGone)
	}
	if err != nil {
		return nil, err
	}
	return f, nil
}

func (i inbox) Delete(ctx context.Context, uids []uint32) error {
	_, err := i.s.ExpungeUIDs(i.account, mailbox.Inbox, uids)
	return err
}
