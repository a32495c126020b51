package console

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is what Queue returns for a message that is not queued.
var ErrNotFound = errors.New("not found")

// Queue is the mail queue as the operator steers it (the same operations
// as `mailgate queue`).
type Queue interface {
	List() []Message
	Show(id string) (Message, error)
	Hold(id string) error
	Release(id string) error
	// Flush makes deferred recipients due now: of one message, of one
	// recipient domain, or all (both empty).
	Flush(id, domain string) (int, error)
	Delete(id string) error
	Bounce(id string) error
}

// Message is one queued message.
type Message struct {
	ID, From, Account string
	Received          time.Time
	Size              int64
	Held              bool
	Recipients        []Recipient
	Headers           string // Show only
}

// Recipient is one recipient's delivery state.
type Recipient struct {
	Addr, State, LastError string
	Attempts               int
	NextAttempt            time.Time
	History                []Attempt // Show only
}

// Attempt is one delivery attempt and the remote's reply.
type Attempt struct {
	Time           time.Time
	Result, Detail string
}

// Accounts is the account database.
type Accounts interface {
	List() []Account
	Get(addr string) (Account, bool)
	Add(addr, password string) error
	SetPassword(addr, password string) error
	SetDisabled(addr string, disabled bool) error
	// Update replaces aliases and send-as (nil: unchanged) and the quota
	// (negative: unchanged).
	Update(addr string, aliases, sendAs []string, quota int64) error
	// Usage is the bytes stored and the quota (0: none).
	Usage(addr string) (used, limit int64, err error)
}

// Directory is a second source of accounts that the console lists but
// does not edit (LDAP): their password, aliases and send-as addresses
// are managed there.
type Directory interface {
	// List returns the accounts whose address or alias contains substr
	// ("": all), at most limit, and whether the directory holds more.
	List(substr string, limit int) (accs []Account, more bool, err error)
}

// Account is one login.
type Account struct {
	Address       string
	Aliases       []string
	SendAs        []string
	Quota         int64
	Disabled      bool
	FromDirectory bool // an LDAP account: edited in the directory
}

// Keys are the HTTP API keys.
type Keys interface {
	List() ([]Key, error)
	// Add returns the new key and its secret, shown once.
	Add(account, name string) (Key, string, error)
	Revoke(id string) error
}

// Key is one API key (never its secret).
type Key struct {
	ID, Account, Name string
	Scopes            []string
	Created           time.Time
}

// Sieve is the script store ManageSieve uses.
type Sieve interface {
	List(account string) ([]Script, error)
	Get(account, name string) ([]byte, error)
	// Put checks and stores a script; a broken one is refused with an
	// error that says where (line:column).
	Put(account, name string, src []byte) error
	SetActive(account, name string) error
	Delete(account, name string) error
}

// Script is one stored Sieve script.
type Script struct {
	Name   string
	Active bool
}

// DNS gives a domain's records to publish and checks them against DNS.
type DNS interface {
	Records(domain string) (string, error)
	Check(ctx context.Context, domain string) ([]RecordCheck, error)
}

// RecordCheck is one record's state in DNS.
type RecordCheck struct {
	Name, Type string
	Status     string // ok, MISSING, DIFFERS, ERROR
	Want       string
	Detail     string
}

// OK reports whether DNS serves the record as published.
func (r RecordCheck) OK() bool { return r.Status == "ok" }

// ConfigView shows the running config.
type ConfigView interface {
	// Text is the config file with secrets replaced.
	Text() string
	// Check validates the file on disk now: nil when it is good, else
	// file:line problems.
	Check() []string
}

// Status is the server's state now.
type Status struct {
	QueueMessages int
	DiskFree      int64 // bytes free on the data directory's disk; -1 unknown
	CertExpiry    time.Time
	CertNames     []string
}

// Counts are monotonic totals of mail handled since start.
type Counts struct {
	Accepted, Delivered, Deferred, Bounced float64
}

// Server is one client-facing service for set-up instructions.
type Server struct {
	Type     string // imap, pop3, smtp
	Hostname string
	Port     int
	Socket   string // SSL or STARTTLS
}
