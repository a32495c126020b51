package pop3

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"mailgate/mailbox"
)

// NewStore serves POP3 from the mailbox store: an account's maildrop is
// its INBOX, UIDL values come from the messages' unique Maildir names
// (see uidl), and QUIT expunges the deleted messages whatever their IMAP
// flags.
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
		out[n] = Message{UID: m.UID, Size: m.Size, UIDL: uidl(m.Name)}
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

// uidl makes a message's unique-id from its Maildir name, which no other
// message of the mailbox ever gets and which survives flag changes,
// restarts and a new UIDVALIDITY. The IMAP UID alone, which UIDL used to
// be, starts again at 1 when INBOX gets a new UIDVALIDITY (an index
// found corrupt and rebuilt): a client that leaves mail on the server
// would then take a new message for one it already has, and never
// download it. A name that RFC 1939 does not allow as a unique-id (over
// 70 characters, say with a long host name, or outside 0x21-0x7E) is
// replaced by 32 hex digits of its SHA-256.
func uidl(name string) string {
	ok := name != "" && len(name) <= 70
	for i := 0; ok && i < len(name); i++ {
		ok = name[i] >= 0x21 && name[i] <= 0x7e
	}
	if ok {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	return hex.EncodeToString(sum[:16])
}
