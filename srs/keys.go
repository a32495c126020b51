package srs

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"mailgate/internal/safefile"
)

// KeysName is the key file in the data directory: one base64 secret a
// line, the signing key first, older keys after it (still accepted).
const KeysName = "srs.keys"

// keepOld is how many previous keys Rotate keeps: with the age limit of
// 21 days, rotating at most once a week keeps every live address valid.
const keepOld = 3

// Keys is the key file, reread when it changes (so `mailgate srs rotate`
// takes effect in a running server), at most once a second.
type Keys struct {
	path string
	now  func() time.Time

	mu      sync.Mutex
	secrets [][]byte
	mod     time.Time
	checked time.Time
}

// OpenKeys loads <dataDir>/srs.keys, creating it with a new secret (mode
// 0600) when it does not exist.
func OpenKeys(dataDir string) (*Keys, error) {
	k := &Keys{path: filepath.Join(dataDir, KeysName), now: time.Now}
	if _, err := os.Stat(k.path); errors.Is(err, os.ErrNotExist) {
		if err := Rotate(dataDir); err != nil {
			return nil, err
		}
	}
	if err := k.load(); err != nil {
		return nil, err
	}
	return k, nil
}

// Secrets returns the signing secret first, then the older ones.
func (k *Keys) Secrets() [][]byte {
	k.mu.Lock()
	defer k.mu.Unlock()
	if now := k.now(); now.Sub(k.checked) >= time.Second {
		k.checked = now
		if st, err := os.Stat(k.path); err == nil && !st.ModTime().Equal(k.mod) {
			_ = k.loadLocked() // a broken file keeps the keys already loaded
		}
	}
	return k.secrets
}

func (k *Keys) load() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.loadLocked()
}

func (k *Keys) loadLocked() error {
	st, err := os.Stat(k.path)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(k.path)
	if err != nil {
		return err
	}
	secrets, err := parseKeys(data)
	if err != nil {
		return fmt.Errorf("%s: %w", k.path, err)
	}
	k.secrets, k.mod = secrets, st.ModTime()
	return nil
}

func parseKeys(data []byte) ([][]byte, error) {
	var out [][]byte
	for n, line := range bytes.Split(data, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		s, err := base64.StdEncoding.DecodeString(string(line))
		if err != nil || len(s) < 16 {
			return nil, fmt.Errorf("line %d: not a base64 secret of 16 bytes or more; remove the line or run mailgate srs rotate", n+1)
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return nil, errors.New("no key; run mailgate srs rotate")
	}
	return out, nil
}

// Rotate puts a new random secret first in <dataDir>/srs.keys and keeps
// the previous keepOld secrets for verification, so addresses handed out
// before the rotation still reverse.
func Rotate(dataDir string) error {
	path := filepath.Join(dataDir, KeysName)
	var old [][]byte
	if data, err := os.ReadFile(path); err == nil {
		if old, err = parseKeys(data); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return err
	}
	if len(old) > keepOld {
		old = old[:keepOld]
	}
	var b bytes.Buffer
	b.WriteString("# SRS secrets: the first signs, all verify. Rotate with: mailgate srs rotate\n")
	for _, s := range append([][]byte{secret}, old...) {
		b.WriteString(base64.StdEncoding.EncodeToString(s) + "\n")
	}
	return safefile.WriteFile(path, b.Bytes(), 0o600)
}
