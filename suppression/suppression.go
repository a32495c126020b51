// Package suppression keeps, per account, the recipients that bounced
// hard (an address that does not exist), so that no submission path
// mails them again: the filter chain refuses them at RCPT and the HTTP
// API at once, until `mailgate suppression remove` or the API lifts them.
// The queue reports the bounces (cmd/mailgate wires it).
package suppression

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"mailgate/internal/safefile"
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
// changes, so the CLI's changes take effect in a running server.
type List struct {
	path string

	mu      sync.Mutex
	entries map[string]Entry // account "\x00" address, lower case
	mod     time.Time
	size    int64
}

// Open loads the list of dataDir (an absent file is empty).
func Open(dataDir string) (*List, error) {
	l := &List{path: filepath.Join(dataDir, fileName), entries: map[string]Entry{}}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l, l.reload()
}

func key(account, addr string) string {
	return strings.ToLower(account) + "\x00" + strings.ToLower(addr)
}

// reload rereads the file when its time or size changed; under mu.
func (l *List) reload() error {
	st, err := os.Stat(l.path)
	if os.IsNotExist(err) {
		l.entries, l.mod, l.size = map[string]Entry{}, time.Time{}, 0
		return nil
	}
	if err != nil {
		return err
	}
	if st.ModTime().Equal(l.mod) && st.Size() == l.size {
		return nil
	}
	b, err := os.ReadFile(l.path)
	if err != nil {
		return err
	}
	var list []Entry
	if err := json.Unmarshal(b, &list); err != nil {
		return fmt.Errorf("%s: %v", l.path, err)
	}
	l.entries = map[string]Entry{}
	for _, e := range list {
		l.entries[key(e.Account, e.Address)] = e
	}
	l.mod, l.size = st.ModTime(), st.Size()
	return nil
}

// Has reports whether account's mail to addr is suppressed. A list that
// cannot be read suppresses nothing new (the last good one stays).
func (l *List) Has(account, addr string) bool {
	if account == "" {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reload()
	_, ok := l.entries[key(account, addr)]
	return ok
}

// Add suppresses addr for account, durably.
func (l *List) Add(e Entry) error {
	e.Reason = clean(e.Reason)
	return l.edit(func(m map[string]Entry) error {
		m[key(e.Account, e.Address)] = e
		return nil
	})
}

// ErrNotFound is returned by Remove for an address not on the list.
var ErrNotFound = fmt.Errorf("the address is not suppressed for this account")

// Remove lifts addr's suppression for account.
func (l *List) Remove(account, addr string) error {
	return l.edit(func(m map[string]Entry) error {
		k := key(account, addr)
		if _, ok := m[k]; !ok {
			return ErrNotFound
		}
		delete(m, k)
		return nil
	})
}

// Entries returns account's entries ("" for every account), by address.
func (l *List) Entries(account string) ([]Entry, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	err := l.reload()
	out := []Entry{}
	for _, e := range l.entries {
		if account == "" || strings.EqualFold(e.Account, account) {
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Account != out[j].Account {
			return out[i].Account < out[j].Account
		}
		return out[i].Address < out[j].Address
	})
	return out, err
}

// edit changes the list and writes it atomically and durably.
func (l *List) edit(change func(map[string]Entry) error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.reload(); err != nil {
		return err
	}
	next := make(map[string]Entry, len(l.entries)+1)
	for k, e := range l.entries {
		next[k] = e
	}
	if err := change(next); err != nil {
		return err
	}
	list := make([]Entry, 0, len(next))
	for _, e := range next {
		list = append(list, e)
	}
	sort.Slice(list, func(i, j int) bool {
		return key(list[i].Account, list[i].Address) < key(list[j].Account, list[j].Address)
	})
	b, err := json.MarshalIndent(list, "", "  ")
	if err != nil {
		return err
	}
	if err := safefile.WriteFile(l.path, append(b, '\n'), 0o600); err != nil {
		return err
	}
	l.entries, l.mod = next, time.Time{}
	return nil
}

// clean keeps a remote's reply printable and short.
func clean(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > 300 {
		s = s[:300]
	}
	return s
}

// HardBounce reports whether a permanent failure means the address does
// not exist: a 5xx to RCPT, or an RFC 3463 status 5.1.x (bad address),
// not a full mailbox or a refused message.
func HardBounce(command, status string) bool {
	return strings.HasPrefix(status, "5.1.") || strings.EqualFold(command, "RCPT") && strings.HasPrefix(status, "5.")
}
