package e2e

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"mailgate/internal/mgtest"
)

// verifyPy is the signature check of docs/api.md, run as a receiver
// would: argv = secret, Mailgate-Signature header, body file. It prints
// True or False.
const verifyPy = `import hashlib, hmac, sys, time

def verify(secret, header, body, tolerance=300):
    parts = dict(p.split("=", 1) for p in header.split(","))
    ts = int(parts["t"])
    if abs(time.time() - ts) > tolerance:
        return False
    mac = hmac.new(secret.encode(), str(ts).encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(mac, parts["v1"])

print(verify(sys.argv[1], sys.argv[2], open(sys.argv[3], "rb").read()))
`

// hookPost is one POST the receiver got.
type hookPost struct {
	sig, id string
	body    []byte
}

// hookReceiver is a loopback HTTP server that answers its first POST 503
// (to be retried) and the others 204.
type hookReceiver struct {
	url   string
	mu    sync.Mutex
	posts []hookPost
}

func startHookReceiver(t *testing.T) *hookReceiver {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &hookReceiver{url: "http://" + ln.Addr().String() + "/hooks/mail"}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.posts = append(r.posts, hookPost{req.Header.Get("Mailgate-Signature"), req.Header.Get("Mailgate-Event-Id"), body})
		first := len(r.posts) == 1
		r.mu.Unlock()
		if first {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return r
}

// events waits until the receiver accepted n distinct events.
func (r *hookReceiver) events(t *testing.T, n int) map[string]hookPost {
	t.Helper()
	deadline := time.Now().Add(mgtest.Timeout)
	for time.Now().Before(deadline) {
		r.mu.Lock()
		got := map[string]hookPost{}
		for _, p := range r.posts[min(1, len(r.posts)):] {
			got[p.id] = p
		}
		r.mu.Unlock()
		if len(got) >= n {
			return got
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("fewer than %d webhook events within %v", n, mgtest.Timeout)
	return nil
}

// TestWebhookSignedEvents is issue 19's "learn each recipient's fate from
// a signed webhook": an API message with tags and metadata to a remote
// address that exists and one the remote MX refuses (550 5.1.1) gives a
// delivered, a bounced and a suppressed event at a loopback receiver,
// each signed as docs/api.md says (checked with its Python snippet) and
// carrying the queue ID, the recipient, the remote's reply, the tags and
// the metadata; the receiver's first answer, 503, is retried with the
// same event ID.
func TestWebhookSignedEvents(t *testing.T) {
	t.Parallel()
	e := startPromiseEnv(t, "")
	rcv := startHookReceiver(t)
	out, code := e.srv.Run("", "webhook", "add", pApp, rcv.url, "-config", e.srv.ConfigPath, "--events", "delivered,bounced,suppressed")
	secret, _, _ := strings.Cut(out, "\n")
	if code != 0 || !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("webhook add: %s", out)
	}
	key := e.apikey(t, pApp)
	a := e.call(t, post(key, `{"from":"app@mg.test","to":["`+pRemote+`","`+pGone+`"],"subject":"api-hook","text":"x",`+
		`"tags":["welcome"],"metadata":{"user_id":"42"}}`))[0]
	var acc struct{ ID string }
	if json.Unmarshal([]byte(a.Body), &acc); a.Status != 202 {
		t.Fatalf("send: %+v", a)
	}
	got := rcv.events(t, 3)
	byType := map[string]map[string]any{}
	dir := t.TempDir()
	for id, p := range got {
		var ev map[string]any
		if err := json.Unmarshal(p.body, &ev); err != nil || ev["id"] != id {
			t.Fatalf("event %s: %v %s", id, err, p.body)
		}
		byType[ev["type"].(string)] = ev
		f := filepath.Join(dir, id)
		os.WriteFile(f, p.body, 0o600)
		if out, err := exec.Command(e.python, "-c", verifyPy, secret, p.sig, f).CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "True" {
			t.Errorf("signature of %s does not verify: %v %s", id, err, out)
		}
	}
	want := map[string][2]string{"delivered": {pRemote, "250 2.0.0 OK queued"}, "bounced": {pGone, "550 5.1.1"}, "suppressed": {pGone, "550 5.1.1"}}
	for typ, w := range want {
		ev := byType[typ]
		if ev == nil || ev["queue_id"] != acc.ID || ev["recipient"] != w[0] || !strings.Contains(strings.TrimSpace(asString(ev["reply"])), w[1]) ||
			asString(ev["account"]) != pApp || strings.Join(asStrings(ev["tags"]), ",") != "welcome" || ev["metadata"].(map[string]any)["user_id"] != "42" {
			t.Errorf("%s event: %v", typ, ev)
		}
	}
	rcv.mu.Lock()
	firstID := rcv.posts[0].id
	rcv.mu.Unlock()
	if _, retried := got[firstID]; !retried {
		t.Errorf("the event answered 503 (%s) was not sent again", firstID)
	}
}

func asString(v any) string { s, _ := v.(string); return s }

func asStrings(v any) []string {
	var out []string
	l, _ := v.([]any)
	for _, x := range l {
		out = append(out, asString(x))
	}
	return out
}
