package accounts

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"runtime"
	"sync"
	"time"
)

// loginCache remembers verified logins, so that an application that opens
// a connection per message pays for argon2id (tens of ms, 19 MiB) once per
// loginTTL rather than on every message. It is keyed so that it is safe:
//
//   - an entry is HMAC-SHA256 under a random key made at start and never
//     stored, of the account, the password and the stored hash: memory
//     read by someone else gives no offline test of a password guess
//     without that key, and a changed hash (passwd) matches no old entry;
//   - only successes are kept, never failures;
//   - Accounts forgets every entry when it installs a changed accounts.yaml
//     (disable, removal, any edit) and on a config reload (ForgetLogins);
//   - at most maxLogins entries; past that the cache starts empty again.
type loginCache struct {
	key [32]byte
	now func() time.Time

	mu      sync.Mutex
	ok      map[[32]byte]time.Time // entry -> expiry
	pending map[[32]byte]*verifyCall
	slots   chan struct{} // argon2id hashes running at once
}

const (
	// loginTTL is how long a verified login is remembered.
	loginTTL = 5 * time.Minute
	// maxLogins bounds the cache's memory (about 100 bytes an entry).
	maxLogins = 10000
)

func newLoginCache(now func() time.Time) (*loginCache, error) {
	c := &loginCache{now: now, ok: map[[32]byte]time.Time{}, pending: map[[32]byte]*verifyCall{},
		slots: make(chan struct{}, runtime.GOMAXPROCS(0))}
	if _, err := rand.Read(c.key[:]); err != nil {
		return nil, err
	}
	return c, nil
}

// entry is the cache key of one login: each part length-prefixed, so no
// two different logins share one.
func (c *loginCache) entry(account, password, hash string) [32]byte {
	m := hmac.New(sha256.New, c.key[:])
	for _, part := range []string{account, password, hash} {
		m.Write(binary.BigEndian.AppendUint32(nil, uint32(len(part))))
		m.Write([]byte(part))
	}
	var e [32]byte
	m.Sum(e[:0])
	return e
}

// check reports whether password matches hash, from the cache when this
// login was verified within loginTTL.
func (c *loginCache) check(account, password, hash string) bool {
	e := c.entry(account, password, hash)
	c.mu.Lock()
	exp, ok := c.ok[e]
	c.mu.Unlock()
	if ok && c.now().Before(exp) {
		return true
	}
	return c.verify(e, hash, password)
}

// forget drops every entry.
func (c *loginCache) forget() {
	c.mu.Lock()
	clear(c.ok)
	c.mu.Unlock()
}

// verifyCall is one password check in progress; logins with the same
// credentials wait for it instead of hashing again.
type verifyCall struct {
	done chan struct{}
	ok   bool
}

// verify checks a password against its hash: at most one check per
// entry at a time, and at most GOMAXPROCS argon2id hashes at once (each
// takes 19 MiB), so a burst of logins after the cache expires cannot
// spike memory. A good result is remembered for loginTTL.
func (c *loginCache) verify(e [32]byte, hash, password string) bool {
	c.mu.Lock()
	if call, ok := c.pending[e]; ok {
		c.mu.Unlock()
		<-call.done
		return call.ok
	}
	call := &verifyCall{done: make(chan struct{})}
	c.pending[e] = call
	c.mu.Unlock()

	c.slots <- struct{}{}
	call.ok = CheckPassword(hash, password)
	<-c.slots

	c.mu.Lock()
	delete(c.pending, e)
	if call.ok {
		if len(c.ok) >= maxLogins {
			clear(c.ok)
		}
		c.ok[e] = c.now().Add(loginTTL)
	}
	c.mu.Unlock()
	close(call.done)
	return call.ok
}
