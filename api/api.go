// Package api is mailgate's HTTP gateway for applications: an API key per
// application, POST /api/v1/messages to send (built into MIME here, then
// checked by the same filter chain as SMTP submission and handed to the
// queue, on stable storage before the 202), and GET for each recipient's
// state. cmd/mailgate mounts it on the HTTP listeners.
package api

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"mailgate/filters"
)

// Queue is what the API needs from the queue.
type Queue interface {
	// Submit spools m; it returns only once m is on stable storage.
	Submit(ctx context.Context, m Outgoing) error
	// Status returns a queued message's state; ok is false for an
	// unknown ID.
	Status(id string) (st Status, ok bool)
}

// Outgoing is one accepted message for the queue.
type Outgoing struct {
	ID         string
	From       string
	Recipients []Recipient
	Account    string
	ClientIP   string
	Received   time.Time
	// Raw is the whole message with CRLF line endings, trace field first.
	Raw []byte
	// EightBit: the message has 8-bit bytes; UTF8: an address has
	// (SMTPUTF8).
	EightBit, UTF8 bool
	// Quarantine: a filter asked local delivery to file it under Junk.
	Quarantine bool
}

// Recipient is one envelope recipient: Addr after alias expansion, Orig
// the address the request gave when they differ.
type Recipient struct{ Addr, Orig string }

// Status is a message's delivery state, per recipient.
type Status struct {
	ID         string       `json:"id"`
	Account    string       `json:"-"`
	Recipients []RcptStatus `json:"recipients"`
	// Finished is when the last recipient became final, for a message
	// that left the queue.
	Finished *time.Time `json:"finished,omitempty"`
}

// RcptStatus is one recipient's state: queued, deferred, delivered or
// bounced, with the last reply (for delivered, the remote's answer to
// the content) and when the next attempt is due.
type RcptStatus struct {
	Recipient   string     `json:"recipient"`
	State       string     `json:"state"`
	Attempts    int        `json:"attempts"`
	Reply       string     `json:"reply,omitempty"`
	NextAttempt *time.Time `json:"next_attempt,omitempty"`
	// Suppressed: the bounce put the recipient on the account's
	// suppression list.
	Suppressed bool `json:"suppressed,omitempty"`
}

// Accounts is what the API needs from the account database.
type Accounts interface {
	// SendAs reports whether account may use addr as sender.
	SendAs(account, addr string) bool
	// Expand resolves a local-domain recipient to its targets; ok is
	// false for an unknown one.
	Expand(addr string, isLocal func(domain string) bool) (targets []string, ok bool)
}

// Options are the API's settings and dependencies.
type Options struct {
	Keys     *Keys
	Accounts Accounts
	Queue    Queue
	// Chain returns the submission filter chain as configured now (a
	// reload may replace it).
	Chain func() *filters.Chain
	// Suppressions, when set, refuses recipients that bounced hard.
	Suppressions Suppressions
	// AccountState tells, on every request, whether a key's account may
	// use the API now (nil: always); a key outlives the account's
	// disabling or deletion, so the key alone does not decide.
	AccountState func(account string) AccountState
	// IsLocal reports whether a domain is one of local_domains.
	IsLocal  func(domain string) bool
	Hostname string
	// MaxMessageSize and MaxRecipients are the SMTP limits, which hold
	// here too.
	MaxMessageSize int64
	MaxRecipients  int
	// Dir keeps Idempotency-Key answers (<data_dir>/api).
	Dir    string
	Logger *slog.Logger
	Now    func() time.Time
}

// Server answers /api/v1/.
type Server struct {
	opts   Options
	log    *slog.Logger
	now    func() time.Time
	mux    *http.ServeMux
	idem   *idempotency
	labels *labelStore
	// sends bounds the sends in progress, each of which may hold a
	// message of limits.max_message_size (and its JSON) in memory.
	sends chan struct{}
}

// maxSends is how many sends run at once; more wait their turn.
const maxSends = 16

// New makes the API; mount it with Handle("/api/", s).
func New(o Options) (*Server, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	idem, err := openIdempotency(o.Dir, o.Now)
	if err != nil {
		return nil, err
	}
	lb, err := openLabels(o.Dir, o.Now)
	if err != nil {
		return nil, err
	}
	s := &Server{opts: o, log: o.Logger.With("component", "api"), now: o.Now, mux: http.NewServeMux(), idem: idem, labels: lb, sends: make(chan struct{}, maxSends)}
	for _, rt := range s.routes() {
		s.mux.HandleFunc(rt.method+" "+rt.path, s.withKey(rt.scope, rt.h))
	}
	s.mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no such endpoint: "+r.Method+" "+truncate(r.URL.Path)+" (see docs/api.md)")
	})
	return s, nil
}

// route is one operation; openapi.yaml describes each (openapi_test.go).
type route struct {
	method, path, scope string
	h                   handler
}

func (s *Server) routes() []route {
	return []route{
		{"POST", "/api/v1/messages", ScopeSend, s.send},
		{"GET", "/api/v1/messages/{id}", ScopeRead, s.status},
		{"GET", "/api/v1/suppressions", ScopeRead, s.listSuppressions},
		{"DELETE", "/api/v1/suppressions/{address}", ScopeSend, s.removeSuppression},
	}
}

// ServeHTTP answers one request; the mux also answers 405 with Allow.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	s.mux.ServeHTTP(w, r)
}

// caller is who sent a request: the key's account and its address.
type caller struct {
	key Key
	ip  string
	tls bool
}

type handler func(w http.ResponseWriter, r *http.Request, c caller)

// withKey admits a request with a valid key that holds scope. A key
// travels in clear only to a loopback client: over the network the API
// must be reached over TLS.
func (s *Server) withKey(scope string, h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ip := clientIP(r)
		if r.TLS == nil && !net.ParseIP(ip).IsLoopback() {
			writeError(w, http.StatusForbidden, "tls_required", "use https: API keys are accepted without TLS only from loopback")
			return
		}
		secret, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="mailgate"`)
			writeError(w, http.StatusUnauthorized, "unauthorized", "send your API key as Authorization: Bearer KEY (mailgate apikey add)")
			return
		}
		key, err := s.opts.Keys.Check(strings.TrimSpace(secret))
		if err != nil {
			if err != ErrBadKey {
				s.internal(w, "key check", err)
				return
			}
			s.log.Warn("api auth failure", "client", ip)
			w.Header().Set("WWW-Authenticate", `Bearer realm="mailgate", error="invalid_token"`)
			writeError(w, http.StatusUnauthorized, "unauthorized", "the API key is unknown or revoked")
			return
		}
		if !s.accountAdmits(w, key.Account) {
			return
		}
		if !key.Has(scope) {
			writeError(w, http.StatusForbidden, "scope", "this API key lacks the "+scope+" scope (mailgate apikey add --scope "+scope+")")
			return
		}
		h(w, r, caller{key: key, ip: ip, tls: r.TLS != nil})
	}
}

// AccountState is whether an account may use its keys now.
type AccountState int

const (
	AccountActive      AccountState = iota
	AccountDisabled                 // logins disabled by the operator
	AccountGone                     // deleted
	AccountUnavailable              // its directory (LDAP) does not answer
)

// accountAdmits answers a request whose key's account may not use the
// API now, and reports whether it may.
func (s *Server) accountAdmits(w http.ResponseWriter, account string) bool {
	if s.opts.AccountState == nil {
		return true
	}
	switch s.opts.AccountState(account) {
	case AccountActive:
		return true
	case AccountDisabled:
		writeError(w, http.StatusForbidden, "account_disabled", "the account "+truncate(account)+" of this API key is disabled; ask the operator to enable it")
	case AccountGone:
		writeError(w, http.StatusForbidden, "account_gone", "the account "+truncate(account)+" of this API key no longer exists")
	default:
		w.Header().Set("Retry-After", "60")
		writeError(w, http.StatusServiceUnavailable, "try_later", "the account directory does not answer; try again later")
	}
	return false
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// status answers GET /api/v1/messages/{id}: only the key's account's own
// messages; another account's ID is as unknown as a made-up one.
func (s *Server) status(w http.ResponseWriter, r *http.Request, c caller) {
	st, ok := s.opts.Queue.Status(r.PathValue("id"))
	if !ok || !strings.EqualFold(st.Account, c.key.Account) {
		writeError(w, http.StatusNotFound, "not_found", "no message with this ID for your account (finished messages are kept for queue.finished_retention)")
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// internal answers 500 without the error's text, which goes to the log.
func (s *Server) internal(w http.ResponseWriter, what string, err error) {
	id := newRequestID()
	s.log.Error("api internal error", "what", what, "request", id, "err", err)
	writeError(w, http.StatusInternalServerError, "internal", "internal error; try again later (request "+id+")")
}
