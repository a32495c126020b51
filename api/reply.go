package api

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/emersion/go-smtp"

	"mailgate/filters"
)

// Error is the body of every error answer.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// Field names the request field to fix (400).
	Field string `json:"field,omitempty"`
	// SMTP is the reply the same refusal gets over SMTP.
	SMTP string `json:"smtp,omitempty"`
}

type errorBody struct {
	Error Error `json:"error"`
}

func writeJSON(w http.ResponseWriter, code int, v any) { jsonAnswer(code, v).write(w) }

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, errorBody{Error{Code: code, Message: msg}})
}

// answer is a response kept for Idempotency-Key replays.
type answer struct {
	Status     int    `json:"status"`
	Body       []byte `json:"body"`
	RetryAfter string `json:"retry_after,omitempty"`
}

func (a answer) write(w http.ResponseWriter) {
	if a.RetryAfter != "" {
		w.Header().Set("Retry-After", a.RetryAfter)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(a.Status)
	w.Write(a.Body)
}

// jsonAnswer encodes v without HTML escaping: addresses keep their <>.
func jsonAnswer(status int, v any) answer {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
	return answer{Status: status, Body: b.Bytes()}
}

func errAnswer(status int, e Error) answer { return jsonAnswer(status, errorBody{e}) }

// refusal turns what the filter chain (or the queue) said into an answer:
// a sender policy refusal is 403, a rate limit 429 with Retry-After,
// another 4xx 503, another 5xx 422; the text is the SMTP reply's, which
// the filters write for the client. Anything else is internal.
func refusal(err error) (answer, bool) {
	var se *smtp.SMTPError
	if !errors.As(err, &se) {
		return answer{}, false
	}
	line := fmt.Sprintf("%d %d.%d.%d %s", se.Code, se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2], se.Message)
	e := Error{Message: se.Message, SMTP: line}
	if d, ok := filters.RetryAfter(err); ok {
		e.Code = "rate_limited"
		a := errAnswer(http.StatusTooManyRequests, e)
		a.RetryAfter = strconv.Itoa(int(d / time.Second))
		return a, true
	}
	switch {
	case se.EnhancedCode == smtp.EnhancedCode{5, 7, 1}:
		e.Code, e.Field = "sender_forbidden", "from"
		return errAnswer(http.StatusForbidden, e), true
	case se.Code >= 500:
		e.Code = "rejected"
		return errAnswer(http.StatusUnprocessableEntity, e), true
	}
	e.Code = "try_later"
	a := errAnswer(http.StatusServiceUnavailable, e)
	a.RetryAfter = "60"
	return a, true
}

func newRequestID() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
