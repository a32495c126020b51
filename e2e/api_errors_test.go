package e2e

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
)

// apiCase is one request and the exact answer it must get.
type apiCase struct {
	name       string
	req        apiRequest
	status     int
	body       string // exact JSON, without the final newline
	retryAfter string
}

// TestAPIErrors: every refusal of POST /api/v1/messages, through the real
// binary over TLS with Python's urllib, gets its status and exactly this
// JSON: a code, a message that says what to fix, and the field to fix
// (400), the SMTP reply the same refusal gets on port 587 (policy and
// rate limit), Retry-After from the rate limit (429).
func TestAPIErrors(t *testing.T) {
	t.Parallel()
	e := startPromiseEnv(t, "")
	key := e.apikey(t, pApp)
	readOnly := e.apikey(t, pApp, "--scope", "read")
	own := e.apikey(t, "own@mg.test") // 2 messages an hour (accounts.yaml)
	msg := func(fields string) string {
		return `{"from":"app@mg.test","to":["bob@mg.test"],"subject":"api-errors","text":"hello"` + fields + `}`
	}
	big := base64.StdEncoding.EncodeToString(make([]byte, 70<<10))
	huge := strings.Repeat("A", 200<<10)
	cases := []apiCase{
		{"no key", post("", msg("")), 401, `{"error":{"code":"unauthorized","message":"send your API key as Authorization: Bearer KEY (mailgate apikey add)"}}`, ""},
		{"unknown key", post("mgk_00000000_"+strings.Repeat("x", 43), msg("")), 401, `{"error":{"code":"unauthorized","message":"the API key is unknown or revoked"}}`, ""},
		{"read-only key", post(readOnly, msg("")), 403, `{"error":{"code":"scope","message":"this API key lacks the send scope (mailgate apikey add --scope send)"}}`, ""},
		{"form body", post(key, "from=app@mg.test", "Content-Type", "application/x-www-form-urlencoded"), 415, `{"error":{"code":"content_type","message":"send the message as JSON with Content-Type: application/json"}}`, ""},
		{"not json", post(key, "{"), 400, `{"error":{"code":"invalid","message":"body: not valid JSON","field":"body"}}`, ""},
		{"no from", post(key, `{"to":["bob@mg.test"],"text":"x"}`), 400, `{"error":{"code":"invalid","message":"from: required: the sender, as you@example.com or \"Name <you@example.com>\"","field":"from"}}`, ""},
		{"bad to", post(key, `{"from":"app@mg.test","to":["bob@mg.test","bob at mg.test"],"text":"x"}`), 400, `{"error":{"code":"invalid","message":"to[1]: \"bob at mg.test\" is not an email address; write user@example.com or \"Name <user@example.com>\"","field":"to[1]"}}`, ""},
		{"to not a list", post(key, `{"from":"app@mg.test","to":"bob@mg.test","text":"x"}`), 400, `{"error":{"code":"invalid","message":"to: wrong type: expected an array","field":"to"}}`, ""},
		{"typo", post(key, msg(`,"bc":["x@mg.test"]`)), 400, `{"error":{"code":"invalid","message":"bc: unknown field; see docs/api.md for the fields of a message","field":"bc"}}`, ""},
		{"no content", post(key, `{"from":"app@mg.test","to":["bob@mg.test"]}`), 400, `{"error":{"code":"invalid","message":"text: give text, html or both (or a whole message in raw)","field":"text"}}`, ""},
		{"bad base64", post(key, msg(`,"attachments":[{"filename":"a.pdf","content":"%%%"}]`)), 400, `{"error":{"code":"invalid","message":"attachments[0].content: not valid base64 (RFC 4648, standard alphabet with padding)","field":"attachments[0].content"}}`, ""},
		{"reserved header", post(key, msg(`,"headers":{"Bcc":"x@mg.test"}`)), 400, `{"error":{"code":"invalid","message":"headers.Bcc: set by mailgate or by its own request field; remove it from headers","field":"headers.Bcc"}}`, ""},
		{"header injection", post(key, msg(`,"headers":{"X-A":"a\r\nBcc: x@mg.test"}`)), 400, `{"error":{"code":"invalid","message":"headers.X-A: the value must not contain line breaks or NUL","field":"headers.X-A"}}`, ""},
		{"unknown local", post(key, `{"from":"app@mg.test","to":["nobody@mg.test"],"text":"x"}`), 400, `{"error":{"code":"invalid","message":"to: nobody@mg.test: no such mailbox here (550 5.1.1)","field":"to"}}`, ""},
		{"forged from", post(key, `{"from":"ceo@bank.example","to":["bob@mg.test"],"text":"x"}`), 403, `{"error":{"code":"sender_forbidden","message":"ceo@bank.example is not an address of app@mg.test; use its own address, an alias or a send-as address","field":"from"}}`, ""},
		{"forged raw From", post(key, `{"from":"app@mg.test","to":["bob@mg.test"],"raw":"From: ceo@bank.example\nSubject: x\n\nhi\n"}`), 403, `{"error":{"code":"sender_forbidden","message":"ceo@bank.example is not an address of app@mg.test; use its own address, an alias or a send-as address","field":"from"}}`, ""},
		{"raw bare CR", post(key, `{"raw":"From: app@mg.test\nTo: bob@mg.test\n\nhi\r.\r\n"}`), 400, `{"error":{"code":"invalid","message":"raw: contains a CR without LF; end lines with CRLF or LF","field":"raw"}}`, ""},
		{"message too large", post(key, msg(`,"attachments":[{"filename":"a.bin","content":"`+big+`"}]`)), 413, `{"error":{"code":"too_large","message":"the message may be 65536 bytes at most (limits.max_message_size); send large files as links"}}`, ""},
		{"body too large", post(key, msg(`,"html":"`+huge+`"`)), 413, `{"error":{"code":"too_large","message":"the message may be 65536 bytes at most (limits.max_message_size); send large files as links"}}`, ""},
		{"bad idempotency key", post(key, msg(""), "Idempotency-Key", "two words"), 400, `{"error":{"code":"invalid","message":"one Idempotency-Key header of 1 to 255 printable ASCII characters, such as a UUID","field":"Idempotency-Key"}}`, ""},
		{"unknown endpoint", apiRequest{Method: "GET", Path: "/api/v1/nothing", Headers: map[string]string{"Authorization": "Bearer " + key}}, 404, `{"error":{"code":"not_found","message":"no such endpoint: GET /api/v1/nothing (see docs/api.md)"}}`, ""},
		{"unknown message", apiRequest{Method: "GET", Path: "/api/v1/messages/661dc3fbc2b3cf99507", Headers: map[string]string{"Authorization": "Bearer " + key}}, 404, `{"error":{"code":"not_found","message":"no message with this ID for your account (finished messages are kept for queue.finished_retention)"}}`, ""},
	}
	for i := 0; i < 2; i++ { // own@mg.test's budget, then the refusal
		cases = append(cases, apiCase{fmt.Sprintf("own %d", i+1), post(own, `{"from":"own@mg.test","to":["bob@mg.test"],"text":"x"}`), 202, "", ""})
	}
	cases = append(cases, apiCase{"rate limit", post(own, `{"from":"own@mg.test","to":["bob@mg.test"],"text":"x"}`), 429,
		`{"error":{"code":"rate_limited","message":"Rate limit reached: more than 2 messages from your account in 1h; try again later","smtp":"450 4.7.1 Rate limit reached: more than 2 messages from your account in 1h; try again later"}}`, "1800"})
	var reqs []apiRequest
	for _, c := range cases {
		reqs = append(reqs, c.req)
	}
	for i, a := range e.call(t, reqs...) {
		c := cases[i]
		body := strings.TrimSuffix(a.Body, "\n")
		if c.body == "" && a.Status == c.status {
			continue
		}
		if a.Status != c.status || body != c.body || a.Headers["Retry-After"] != c.retryAfter || a.Headers["Content-Type"] != "application/json" {
			t.Errorf("%s:\n got %d %v %s\nwant %d Retry-After %q %s", c.name, a.Status, a.Headers, body, c.status, c.retryAfter, c.body)
		}
	}
}
