package e2e

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"mailgate/internal/testenv"
)

// apiDriver sends HTTP requests with Python's urllib over TLS (the
// server's self-signed certificate as the only CA) and prints, as JSON,
// each answer's status, the headers a client acts on, and its body.
const apiDriver = `import json, ssl, sys, urllib.request, urllib.error
spec = json.loads(sys.stdin.read())
ctx = ssl.create_default_context(cafile=spec["ca"])
out = []
for r in spec["requests"]:
    body = r.get("body")
    if body is not None:
        body = body.encode()
    req = urllib.request.Request(spec["base"] + r["path"], data=body, method=r["method"], headers=r.get("headers") or {})
    try:
        resp = urllib.request.urlopen(req, context=ctx, timeout=60)
        status, hdrs, data = resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as e:
        status, hdrs, data = e.code, e.headers, e.read()
    keep = {k: hdrs[k] for k in ("Retry-After", "Idempotent-Replayed", "Content-Type", "WWW-Authenticate") if hdrs.get(k) is not None}
    out.append({"status": status, "headers": keep, "body": data.decode()})
print(json.dumps(out))
`

// apiRequest is one request for apiDriver.
type apiRequest struct {
	Method  string            `json:"method"`
	Path    string            `json:"path"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    *string           `json:"body,omitempty"`
}

// apiAnswer is what apiDriver saw.
type apiAnswer struct {
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
}

// call runs requests against the api listener, in order, from Python.
func (e *promiseEnv) call(t *testing.T, reqs ...apiRequest) []apiAnswer {
	t.Helper()
	spec, _ := json.Marshal(map[string]any{
		"base": "https://localhost:" + portOf(e.srv.Addr["api"]), "ca": filepath.Join(e.srv.DataDir, "tls", "selfsigned.crt"), "requests": reqs,
	})
	cmd := exec.Command(e.python, "-c", apiDriver)
	cmd.Stdin = strings.NewReader(string(spec))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("api driver: %v\n%s\n%s", err, out, stderr.String())
	}
	var answers []apiAnswer
	if err := json.Unmarshal(out, &answers); err != nil {
		t.Fatalf("api driver output: %v\n%s", err, out)
	}
	return answers
}

// post is a POST /api/v1/messages with key and a JSON body.
func post(key, body string, header ...string) apiRequest {
	h := map[string]string{"Content-Type": "application/json"}
	if key != "" {
		h["Authorization"] = "Bearer " + key
	}
	for i := 0; i+1 < len(header); i += 2 {
		h[header[i]] = header[i+1]
	}
	return apiRequest{Method: "POST", Path: "/api/v1/messages", Headers: h, Body: &body}
}

// apikey runs `mailgate apikey add ACCOUNT ARGS` and returns the key.
func (e *promiseEnv) apikey(t *testing.T, account string, args ...string) string {
	t.Helper()
	out, code := e.srv.Run("", append([]string{"apikey", "add", account, "-config", e.srv.ConfigPath}, args...)...)
	if code != 0 {
		t.Fatalf("apikey add: %s", out)
	}
	key, _, _ := strings.Cut(out, "\n")
	if !strings.HasPrefix(key, "mgk_") {
		t.Fatalf("apikey add printed %q", out)
	}
	return key
}

// dkimVerify checks every DKIM signature of msg with dkimpy, keys from
// the suite's DNS server; it returns one "INDEX pass|fail" line each.
func (e *promiseEnv) dkimVerify(t *testing.T, msg []byte) string {
	t.Helper()
	f, err := os.Open(testenv.Tool(t, "dkimverify"))
	if err != nil {
		t.Fatal(err)
	}
	first, _ := bufio.NewReader(f).ReadString('\n')
	f.Close()
	python := strings.TrimSpace(strings.TrimPrefix(first, "#!"))
	script, _ := filepath.Abs("../filters/testdata/dkimpy_verify.py")
	cmd := exec.Command(python, script, e.dns)
	cmd.Stdin = strings.NewReader(string(msg))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("dkimpy: %v\n%s", err, out)
	}
	return strings.TrimSpace(string(out))
}
