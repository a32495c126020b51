package console

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"strings"
	"sync"
	"time"
)

// cookieName names the session cookie; its value is the session's
// random ID, everything else stays on the server.
const cookieName = "mailgate_console"

// maxSessions bounds the memory sessions take: past it the oldest
// session is dropped (its user logs in again).
const maxSessions = 10000

// session is one logged-in browser.
type session struct {
	id      string
	account string
	csrf    string
	created time.Time
	seen    time.Time
	flash   string // one message for the next page, then gone
	secret  string // a new API key, shown once
}

// sessions are kept in memory only: a restart logs everyone out.
type sessions struct {
	idle, lifetime time.Duration
	now            func() time.Time

	mu   sync.Mutex
	byID map[string]*session
}

func newSessions(idle, lifetime time.Duration, now func() time.Time) *sessions {
	if idle <= 0 {
		idle = 30 * time.Minute
	}
	if lifetime < idle {
		lifetime = max(idle, 12*time.Hour)
	}
	return &sessions{idle: idle, lifetime: lifetime, now: now, byID: map[string]*session{}}
}

// create starts a session for account.
func (ss *sessions) create(account string) *session {
	now := ss.now()
	s := &session{id: randomToken(), account: account, csrf: randomToken(), created: now, seen: now}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.sweep(now)
	if len(ss.byID) >= maxSessions {
		ss.dropOldest()
	}
	ss.byID[s.id] = s
	return s
}

// get returns the live session of id and marks it used; an expired one
// is removed.
func (ss *sessions) get(id string) *session {
	now := ss.now()
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s := ss.byID[id]
	if s == nil {
		return nil
	}
	if ss.expired(s, now) {
		delete(ss.byID, id)
		return nil
	}
	s.seen = now
	return s
}

func (ss *sessions) expired(s *session, now time.Time) bool {
	return now.Sub(s.seen) > ss.idle || now.Sub(s.created) > ss.lifetime
}

func (ss *sessions) remove(id string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.byID, id)
}

// removeAccount ends every session of account but keep (a password
// change logs the account's other browsers out).
func (ss *sessions) removeAccount(account, keep string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for id, s := range ss.byID {
		if id != keep && strings.EqualFold(s.account, account) {
			delete(ss.byID, id)
		}
	}
}

// takeFlash returns and clears the session's one-time message and secret.
func (ss *sessions) takeFlash(s *session) (flash, secret string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	flash, secret = s.flash, s.secret
	s.flash, s.secret = "", ""
	return flash, secret
}

// setFlash keeps a message (if not empty) and a secret (if not empty)
// for the next page.
func (ss *sessions) setFlash(s *session, flash, secret string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if flash != "" {
		s.flash = flash
	}
	if secret != "" {
		s.secret = secret
	}
}

func (ss *sessions) sweep(now time.Time) {
	for id, s := range ss.byID {
		if ss.expired(s, now) {
			delete(ss.byID, id)
		}
	}
}

func (ss *sessions) dropOldest() {
	var oldest *session
	for _, s := range ss.byID {
		if oldest == nil || s.seen.Before(oldest.seen) {
			oldest = s
		}
	}
	if oldest != nil {
		delete(ss.byID, oldest.id)
	}
}

func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// setCookie hands the browser the session: HttpOnly (no script reads
// it), SameSite=Strict (no other site's page sends it), Secure whenever
// the console is served over TLS. On plain HTTP (loopback only, see
// refuseTransport) a Secure cookie would not be sent back, so it is left
// off there.
func setCookie(w http.ResponseWriter, r *http.Request, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil,
	})
}

// sessionOf returns the request's live session, or nil.
func (c *Console) sessionOf(r *http.Request) *session {
	ck, err := r.Cookie(cookieName)
	if err != nil || ck.Value == "" {
		return nil
	}
	return c.sessions.get(ck.Value)
}

// validCSRF compares the form's token with the session's.
func validCSRF(s *session, r *http.Request) bool {
	got := r.PostFormValue("csrf")
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.csrf)) == 1
}
