// Package suppression keeps, per account, the recipients that bounced
// hard (an address that does not exist), so that no submission path
// mails them again: the filter chain refuses them at RCPT and the HTTP
// API at once, until `mailgate suppression remove` or the API lifts them.
// The queue reports the bounces (cmd/mailgate wires it).
package suppression

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"mailgate/internal/jsonfile"
	"mailgate/internal/mailmsg"
)

// fileName is the list inside the data directory.
const fileName = "suppressions.json"

// Entry is one suppressed recipient of one account.
type Entry struct {
	Account string    `json:"account"`
	Address string    `json:"address"`
	Reason  string    `json:"reason"` // the remote's reply
	QueueID string    `json:"queue_id,omitempty"`
	Time    time.Time `json:"time"`
}

// List is <data_dir>/suppressions.json. It is reread when the file
// changes, so the CLI's changes take effect in a running server; a map
// built from it answers Has, one lookup per RCPT.
type List struct {
	file   *jsonfile.File[[]Entry]
	shared Shared // nil on one node

	mu    sync.Mutex
	index map[string]bool // key(account, address)
	gen   int             // the file's load the index was built from
}

// Open loads the list of dataDir (an absent file is empty).
func Open(dataDir string) (*List, error) {
	f, err := jsonfile.Open[[]Entry](filepath.Join(dataDir, fileName))
	return &List{file: f, gen: -1}, err
}

func key(account, addr string) string {
	return strings.ToLower(account) + "\x00" + strings.ToLower(addr)
}

// Shared is the list all nodes of a cluster see (cluster.Suppressions,
// in Redis). Its errors mean it could not be asked.
type Shared interface {
	Has(account, addr string) (bool, error)
	Add(e Entry) error
	Remove(account, addr string) (found bool, err error)
	Entries(account string) ([]Entry, error)
}

// Share makes the list shared (cluster.redis). The failure policy while
// the shared store cannot be reached: Has answers from this node's own
// file, which keeps every suppression this node recorded (also those of
// the outage, which the other nodes do not learn); Remove fails, so an
// address is never lifted on some nodes only; Entries shows this node's
// file.
func (l *List) Share(s Shared) { l.shared = s }

// ErrNotShared is returned (wrapped) by Add when the entry was written
// here but the shared store could not be reached.
var ErrNotShared = errors.New("suppression recorded on this node only: the shared store is unavailable")

// Has reports whether account's mail to addr is suppressed. A list that
// cannot be read keeps its last good content.
func (l *List) Has(account, addr string) bool {
	if account == "" {
		return false
	}
	if l.shared != nil {
		if ok, err := l.shared.Has(account, addr); err == nil {
			return ok
		}
	}
	return l.hasLocal(account, addr)
}

// hasLocal answers from this node's file.
func (l *List) hasLocal(account, addr string) bool {
	entries, gen, _ := l.file.Get()
	l.mu.Lock()
	defer l.mu.Unlock()
	if gen != l.gen {
		l.index = make(map[string]bool, len(entries))
		for _, e := range entries {
			l.index[key(e.Account, e.Address)] = true
		}
		l.gen = gen
	}
	return l.index[key(account, addr)]
}

// Add suppresses addr for account, durably, here and in the shared
// store (an error wrapping ErrNotShared when only here).
func (l *List) Add(e Entry) error {
	e.Reason = clean(e.Reason)
	if err := l.addLocal(e); err != nil {
		return err
	}
	if l.shared != nil {
		if err := l.shared.Add(e); err != nil {
			return fmt.Errorf("%w: %v", ErrNotShared, err)
		}
	}
	return nil
}

func (l *List) addLocal(e Entry) error {
	return l.file.Edit(func(list []Entry) ([]Entry, error) {
		k := key(e.Account, e.Address)
		out := slices.DeleteFunc(slices.Clone(list), func(x Entry) bool { return key(x.Account, x.Address) == k })
		return append(out, e), nil
	})
}

// ErrNotFound is returned by Remove for an address not on the list.
var ErrNotFound = errors.New("the address is not suppressed for this account")

// Remove lifts addr's suppression for account: in the shared store
// first (an error there changes nothing), then here.
func (l *List) Remove(account, addr string) error {
	found := false
	if l.shared != nil {
		var err error
		if found, err = l.shared.Remove(account, addr); err != nil {
			return fmt.Errorf("not lifted: the shared suppression list is unavailable (%v); try again", err)
		}
	}
	err := l.removeLocal(account, addr)
	if found && errors.Is(err, ErrNotFound) {
		return nil // recorded by another node
	}
	return err
}

func (l *List) removeLocal(account, addr string) error {
	return l.file.Edit(func(list []Entry) ([]Entry, error) {
		k := key(account, addr)
		out := slices.DeleteFunc(slices.Clone(list), func(x Entry) bool { return key(x.Account, x.Address) == k })
		if len(out) == len(list) {
			return nil, ErrNotFound
		}
		return out, nil
	})
}

// Entries returns account's entries ("" for every account), by address:
// the shared store's, or while it cannot be reached this node's.
func (l *List) Entries(account string) ([]Entry, error) {
	var list []Entry
	var err error
	if l.shared != nil {
		list, err = l.shared.Entries(account)
	}
	if l.shared == nil || err != nil {
		list, _, err = l.file.Get()
	}
	out := []Entry{}
	for _, e := range list {
		if account == "" || strings.EqualFold(e.Account, account) {
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return key(out[i].Account, out[i].Address) < key(out[j].Account, out[j].Address) })
	return out, err
}

// clean keeps a remote's reply printable and short.
func clean(s string) string {
	s = mailmsg.Clean(s)
	if len(s) > 300 {
		s = s[:300]
	}
	return s
}

// HardBounce reports whether a permanent failure says the mailbox does
// not exist: the remote answered RCPT with a 5xx, or any step gave RFC
// 3463 status 5.1.1 (bad destination mailbox). A domain without MX
// (5.1.2, our own DNS verdict), a full mailbox or a refused message is
// not: the address itself may be fine.
func HardBounce(command, status string) bool {
	return status == "5.1.1" || strings.EqualFold(command, "RCPT") && strings.HasPrefix(status, "5.")
}
