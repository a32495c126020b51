package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"mailgate/internal/jsonfile"
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
type Keys struct{ file *jsonfile.File[[]Key] }

// OpenKeys loads the key file of dataDir (an absent file has no keys).
func OpenKeys(dataDir string) (*Keys, error) {
	f, err := jsonfile.Open[[]Key](filepath.Join(dataDir, keysName))
	return &Keys{file: f}, err
}

// Check returns the key that secret is, or ErrBadKey.
func (k *Keys) Check(secret string) (Key, error) {
	id, ok := keyID(secret)
	if !ok {
		return Key{}, ErrBadKey
	}
	sum := sha256.Sum256([]byte(secret))
	keys, _, err := k.file.Get()
	if err != nil {
		return Key{}, err
	}
	for _, key := range keys {
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
	id := jsonfile.NewID()
	secret := keyPrefix + id + "_" + jsonfile.NewSecret(32)
	sum := sha256.Sum256([]byte(secret))
	key := Key{ID: id, Account: strings.ToLower(account), Name: name, Scopes: scopes, Hash: hex.EncodeToString(sum[:]), Created: time.Now().UTC()}
	return key, secret, jsonfile.Append(k.file, key)
}

// Revoke deletes the key with id.
func (k *Keys) Revoke(id string) error {
	return jsonfile.Remove(k.file, func(x Key) bool { return x.ID == id },
		fmt.Errorf("no API key with id %q (see mailgate apikey list)", id))
}

// List returns every key, without secrets.
func (k *Keys) List() ([]Key, error) { return jsonfile.Items(k.file) }
