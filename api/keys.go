package api

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"mailgate/internal/safefile"
)

// Scopes a key may hold.
const (
	ScopeSend = "send" // POST /api/v1/messages, SMTP AUTH
	ScopeRead = "read" // GET /api/v1/messages/{id}, suppression list
)

// keyPrefix starts every key, so a leaked one is easy to recognise (secret
// scanners) and SMTP AUTH can tell a key from a password at a glance.
const keyPrefix = "mgk_"

// keysName is the key file inside the data directory.
const keysName = "apikeys.json"

// Key is one API key as stored: never the secret, only its SHA-256. The
// secret is 32 random bytes, so a fast hash is enough (nothing to guess);
// a slow one (argon2id) would cost every API call what a login costs.
type Key struct {
	ID      string    `json:"id"`
	Account string    `json:"account"`
	Name    string    `json:"name,omitempty"`
	Scopes  []string  `json:"scopes"`
	Hash    string    `json:"sha256"`
	Created time.Time `json:"created"`
}

// Has reports whether the key holds scope.
func (k Key) Has(scope string) bool { return slices.Contains(k.Scopes, scope) }

// ErrBadKey is returned for an unknown, revoked or malformed key.
var ErrBadKey = errors.New("api: invalid or revoked API key")

// Keys is the key file, <data_dir>/apikeys.json. A running server rereads
// it when it changes, so `mailgate apikey add|revoke` takes effect at once.
type Keys struct {
	path string

	mu    sync.Mutex
	keys  []Key
	stamp time.Time
	size  int64
}

// OpenKeys loads the key file of dataDir (an absent file has no keys).
func OpenKeys(dataDir string) (*Keys, error) {
	k := &Keys{path: filepath.Join(dataDir, keysName)}
	k.mu.Lock()
	defer k.mu.Unlock()
	return k, k.reload()
}

// reload rereads the file if its time or size changed; under mu.
func (k *Keys) reload() error {
	st, err := os.Stat(k.path)
	if os.IsNotExist(err) {
		k.keys, k.stamp, k.size = nil, time.Time{}, 0
		return nil
	}
	if err != nil {
		return err
	}
	if st.ModTime().Equal(k.stamp) && st.Size() == k.size {
		return nil
	}
	b, err := os.ReadFile(k.path)
	if err != nil {
		return err
	}
	var keys []Key
	if err := json.Unmarshal(b, &keys); err != nil {
		return fmt.Errorf("%s: %v", k.path, err)
	}
	k.keys, k.stamp, k.size = keys, st.ModTime(), st.Size()
	return nil
}

// Check returns the key that secret is, or ErrBadKey.
func (k *Keys) Check(secret string) (Key, error) {
	id, ok := keyID(secret)
	if !ok {
		return Key{}, ErrBadKey
	}
	sum := sha256.Sum256([]byte(secret))
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.reload(); err != nil {
		return Key{}, err
	}
	for _, key := range k.keys {
		want, _ := hex.DecodeString(key.Hash)
		if key.ID == id && subtle.ConstantTimeCompare(sum[:], want) == 1 {
			return key, nil
		}
	}
	return Key{}, ErrBadKey
}

// IsKey reports whether s has the form of an API key.
func IsKey(s string) bool {
	_, ok := keyID(s)
	return ok
}

// keyID takes the ID out of "mgk_<id>_<secret>".
func keyID(s string) (string, bool) {
	rest, ok := strings.CutPrefix(s, keyPrefix)
	if !ok {
		return "", false
	}
	id, secret, ok := strings.Cut(rest, "_")
	return id, ok && len(id) == 8 && len(secret) == 43
}

// Add makes a key for account and returns it with its secret, which is
// shown this once and never stored.
func (k *Keys) Add(account, name string, scopes []string) (Key, string, error) {
	var idb [4]byte
	var sec [32]byte
	rand.Read(idb[:])
	rand.Read(sec[:])
	id := hex.EncodeToString(idb[:])
	secret := keyPrefix + id + "_" + base64.RawURLEncoding.EncodeToString(sec[:])
	sum := sha256.Sum256([]byte(secret))
	key := Key{ID: id, Account: strings.ToLower(account), Name: name, Scopes: scopes, Hash: hex.EncodeToString(sum[:]), Created: time.Now().UTC()}
	err := k.edit(func(keys []Key) ([]Key, error) { return append(keys, key), nil })
	return key, secret, err
}

// Revoke deletes the key with id.
func (k *Keys) Revoke(id string) error {
	return k.edit(func(keys []Key) ([]Key, error) {
		i := slices.IndexFunc(keys, func(x Key) bool { return x.ID == id })
		if i < 0 {
			return nil, fmt.Errorf("no API key with id %q (see mailgate apikey list)", id)
		}
		return slices.Delete(keys, i, i+1), nil
	})
}

// List returns every key, without secrets.
func (k *Keys) List() ([]Key, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	err := k.reload()
	return slices.Clone(k.keys), err
}

// edit changes the file durably (safefile), readable by the owner only.
func (k *Keys) edit(change func([]Key) ([]Key, error)) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.reload(); err != nil {
		return err
	}
	keys, err := change(slices.Clone(k.keys))
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(keys, "", "  ")
	if err != nil {
		return err
	}
	if err := safefile.WriteFile(k.path, append(b, '\n'), 0o600); err != nil {
		return err
	}
	k.stamp = time.Time{} // reread on next use
	return nil
}
