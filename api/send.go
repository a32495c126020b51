package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"mailgate/filters"
	"mailgate/internal/mailmsg"
)

// accepted is the 202 body.
type accepted struct {
	ID         string   `json:"id"`
	Recipients []string `json:"recipients"`
}

// send answers POST /api/v1/messages.
func (s *Server) send(w http.ResponseWriter, r *http.Request, c caller) {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, "content_type", "send the message as JSON with Content-Type: application/json")
		return
	}
	select {
	case s.sends <- struct{}{}:
		defer func() { <-s.sends }()
	case <-r.Context().Done():
		return
	}
	limit := s.maxBody()
	if r.ContentLength > limit {
		drain(r.Body)
		s.tooLarge().write(w)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		drain(r.Body)
		s.tooLarge().write(w)
		return
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, "body", "the request body could not be read")
		return
	}
	key, hasKey := r.Header["Idempotency-Key"]
	if !hasKey {
		s.accept(r.Context(), c, body, "", r).write(w)
		return
	}
	if len(key) != 1 || !validIdempotencyKey(key[0]) {
		writeJSON(w, http.StatusBadRequest, errorBody{Error{Code: "invalid", Field: "Idempotency-Key",
			Message: "one Idempotency-Key header of 1 to 255 printable ASCII characters, such as a UUID"}})
		return
	}
	s.idempotent(w, r, c, body, key[0])
}

// idempotent runs a send under an Idempotency-Key: the same key with the
// same body within 24 hours gets the first answer again, and the message
// is queued once.
func (s *Server) idempotent(w http.ResponseWriter, r *http.Request, c caller, body []byte, key string) {
	name, unlock := s.idem.lock(c.key.Account, key)
	defer unlock()
	rec, err := s.idem.load(name)
	if err != nil {
		s.internal(w, "idempotency load", err)
		return
	}
	sum := sha256.Sum256(body)
	digest := hex.EncodeToString(sum[:])
	if rec != nil && rec.Request != digest {
		writeJSON(w, http.StatusUnprocessableEntity, errorBody{Error{Code: "idempotency_mismatch", Field: "Idempotency-Key",
			Message: "this Idempotency-Key was used in the last 24 hours with a different request; use a new key for a new message"}})
		return
	}
	if rec != nil && rec.Answer != nil {
		w.Header().Set("Idempotent-Replayed", "true")
		rec.Answer.write(w)
		return
	}
	id := newQueueID(s.now())
	if rec != nil && rec.Pending != "" {
		if _, ok := s.opts.Queue.Status(rec.Pending); ok {
			w.Header().Set("Idempotent-Replayed", "true")
			jsonAnswer(http.StatusAccepted, accepted{ID: rec.Pending}).write(w)
			return
		}
		id = rec.Pending
	}
	rec = &record{Account: c.key.Account, Request: digest, Created: s.now().UTC(), Pending: id}
	if err := s.idem.save(name, rec); err != nil {
		s.internal(w, "idempotency save", err)
		return
	}
	a := s.accept(r.Context(), c, body, id, r)
	if keep(a) {
		rec.Pending, rec.Answer = "", &a
		if err := s.idem.save(name, rec); err != nil {
			s.log.Error("api idempotency record not written", "err", err)
		}
	}
	a.write(w)
}

// maxBody bounds the request: the largest message in base64 (JSON
// attachments) plus room for the rest.
func (s *Server) maxBody() int64 { return s.opts.MaxMessageSize*4/3 + 64<<10 }

func (s *Server) tooLarge() answer {
	return errAnswer(http.StatusRequestEntityTooLarge, Error{Code: "too_large",
		Message: fmt.Sprintf("the message may be %d bytes at most (limits.max_message_size); send large files as links", s.opts.MaxMessageSize)})
}

// accept checks and queues one message; id is its queue ID ("" for a new
// one).
func (s *Server) accept(ctx context.Context, c caller, body []byte, id string, r *http.Request) answer {
	var req Request
	if err := decode(body, &req); err != nil {
		return badRequest(err)
	}
	env, raw, err := s.compose(&req)
	if err != nil {
		return badRequest(err)
	}
	if int64(len(raw)) > s.opts.MaxMessageSize {
		return s.tooLarge()
	}
	if a, bad := s.checkSender(c, env, raw); bad {
		return a
	}
	rcpts, err := s.route(env.rcpts)
	if err != nil {
		return badRequest(err)
	}
	if addr := s.suppressedIn(c.key.Account, env.rcpts); addr != "" {
		return suppressedAnswer(addr)
	}
	if id == "" {
		id = newQueueID(s.now())
	}
	out, err := s.filter(ctx, c, r, id, env, rcpts, raw)
	if err != nil {
		if a, ok := refusal(err); ok {
			return a
		}
		return s.internalAnswer("filters", err)
	}
	if out != nil {
		if err := s.labels.save(id, req.Tags, req.Metadata); err != nil {
			return s.internalAnswer("labels", err)
		}
		if err := s.opts.Queue.Submit(ctx, *out); err != nil {
			if a, ok := refusal(err); ok {
				return a
			}
			return s.internalAnswer("queue", err)
		}
	}
	s.log.Info("accepted", "msgid", id, "account", c.key.Account, "key", c.key.ID, "from", env.from.Address, "rcpts", len(rcpts), "size", len(raw))
	return jsonAnswer(http.StatusAccepted, accepted{ID: id, Recipients: env.rcpts})
}

func (s *Server) internalAnswer(what string, err error) answer {
	rid := newRequestID()
	s.log.Error("api internal error", "what", what, "request", rid, "err", err)
	return errAnswer(http.StatusInternalServerError, Error{Code: "internal", Message: "internal error; try again later (request " + rid + ")"})
}

// decode reads the JSON body strictly: an unknown field is a mistake
// (a typo such as "bc" would otherwise drop recipients silently).
func decode(body []byte, req *Request) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	err := dec.Decode(req)
	if err == nil && dec.More() {
		return badField("body", "one JSON object only")
	}
	var te *json.UnmarshalTypeError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &te):
		return badField(te.Field, "wrong type: expected %s", jsonType(te.Type.Kind().String()))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		f := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return badField(f, "unknown field; see docs/api.md for the fields of a message")
	}
	return badField("body", "not valid JSON")
}

func jsonType(kind string) string {
	switch kind {
	case "slice":
		return "an array"
	case "map", "struct":
		return "an object"
	case "bool":
		return "true or false"
	}
	return "a " + kind
}

func badRequest(err error) answer {
	var fe *fieldError
	if errors.As(err, &fe) {
		return errAnswer(http.StatusBadRequest, Error{Code: "invalid", Field: fe.field, Message: fe.Error()})
	}
	return errAnswer(http.StatusBadRequest, Error{Code: "invalid", Message: "the request is not valid"})
}

// compose validates the request and makes the message.
func (s *Server) compose(req *Request) (envelope, []byte, error) {
	env, err := req.check(s.opts.MaxRecipients)
	if err != nil {
		return env, nil, err
	}
	if req.Raw != "" {
		raw, err := normalizeRaw(req.Raw)
		if err != nil {
			return env, nil, err
		}
		raw, err = rawEnvelope(raw, &env, s.opts.MaxRecipients)
		return env, raw, err
	}
	raw, err := build(req, env, s.now(), newMessageID(s.opts.Hostname))
	return env, raw, err
}

func newMessageID(host string) string {
	return newRequestID() + newRequestID() + "@" + host
}

// newQueueID is the queue's ID format: microseconds, then random digits.
func newQueueID(now time.Time) string {
	return fmt.Sprintf("%013x%s", now.UnixMicro(), newRequestID()[:6])
}

// route expands local recipients (aliases, lists) and refuses unknown
// ones, as SMTP RCPT does.
func (s *Server) route(rcpts []string) ([]Recipient, error) {
	var out []Recipient
	seen := map[string]bool{}
	for _, to := range rcpts {
		targets := []string{to}
		if s.opts.IsLocal(mailmsg.Domain(to)) {
			t, ok := s.opts.Accounts.Expand(to, s.opts.IsLocal)
			if !ok {
				return nil, badField("to", "%s: no such mailbox here (550 5.1.1)", to)
			}
			targets = t
		}
		for _, t := range targets {
			if k := strings.ToLower(t); !seen[k] {
				seen[k] = true
				rc := Recipient{Addr: t}
				if !strings.EqualFold(t, to) {
					rc.Orig = to
				}
				out = append(out, rc)
			}
		}
	}
	return out, nil
}

// checkSender refuses a sender the key's account may not use, whether
// or not the chain runs sender_policy: the envelope sender and every
// address of the header From.
func (s *Server) checkSender(c caller, env envelope, raw []byte) (answer, bool) {
	addrs := []string{env.from.Address}
	addrs = append(addrs, headerFrom(raw)...)
	for _, a := range addrs {
		if !s.opts.Accounts.SendAs(c.key.Account, a) {
			return errAnswer(http.StatusForbidden, Error{Code: "sender_forbidden", Field: "from",
				Message: fmt.Sprintf("%s is not an address of %s; use its own address, an alias or a send-as address", a, c.key.Account)}), true
		}
	}
	return answer{}, false
}

// filter runs the submission chain on the message as a client logged in
// as the key's account would, and returns what to queue (nil when a
// filter discards it).
func (s *Server) filter(ctx context.Context, c caller, r *http.Request, id string, env envelope, rcpts []Recipient, raw []byte) (*Outgoing, error) {
	conn := &filters.Conn{SessionID: id, Listener: "api", Submission: true, IP: parseIP(c.ip), Helo: "api", TLS: r.TLS, Account: c.key.Account}
	txn := s.opts.Chain().Begin(ctx, conn)
	defer txn.Close()
	if err := txn.Mail(ctx, env.from.Address); err != nil {
		return nil, err
	}
	var addrs []string
	for _, rc := range rcpts {
		if err := txn.Rcpt(ctx, rc.Addr); err != nil {
			return nil, err
		}
		addrs = append(addrs, rc.Addr)
	}
	msg := filters.NewMessage(env.from.Address, addrs, raw)
	if err := txn.Data(ctx, msg); err != nil {
		return nil, err
	}
	if msg.Discard {
		return nil, nil
	}
	now := s.now()
	full, err := assemble(s.received(c, id, now), msg)
	if err != nil {
		return nil, err
	}
	return &Outgoing{ID: id, From: env.from.Address, Recipients: rcpts, Account: c.key.Account, ClientIP: c.ip,
		Received: now, Raw: full, EightBit: !ascii(full), UTF8: utf8Addresses(env.from.Address, addrs), Quarantine: msg.Quarantine}, nil
}

// maxDrain bounds what the server reads of a refused body.
const maxDrain = 1 << 20

// drain reads and drops what is left of a refused request body, up to
// maxDrain, before the 413 goes out. A client such as Python's urllib
// sends the whole body before it reads the answer; closing the
// connection on unread data resets it, and the client then sees a broken
// connection instead of the 413 that says what to fix. Past maxDrain the
// connection is closed anyway, so one client cannot make the server read
// without bound.
func drain(body io.Reader) {
	io.CopyN(io.Discard, body, maxDrain)
}
