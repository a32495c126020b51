package e2e

import (
	"os/exec"
	"strings"
	"testing"

	"mailgate/internal/mgtest"
	"mailgate/internal/testenv"
)

// TestAdminAPIRefusesWhatAWebPageCanSend drives the admin API of the
// real binary (no http.token_file) with curl, as a browser page or a
// DNS-rebinding attacker could: every state-changing request a page can
// make without a CORS preflight is refused, and mailgate queue's JSON
// call still works (issue 14: a flush with Origin: http://evil.example
// returned 200).
func TestAdminAPIRefusesWhatAWebPageCanSend(t *testing.T) {
	curl := testenv.Tool(t, "curl")
	srv := mgtest.Start(t, mgtest.Options{Protocols: []string{"smtp", "http"}})
	base := "http://" + srv.Addr["http"]
	flush := base + "/admin/queue/flush"
	tests := []struct {
		name string
		args []string
		want string // status code and the start of the body
	}{
		{"foreign Origin", []string{"-X", "POST", "-H", "Content-Type: application/json", "-H", "Origin: http://evil.example", "-d", "{}", flush},
			"403 admin API: cross-origin requests are refused (Origin: http://evil.example)"},
		{"cross-site fetch", []string{"-H", "Content-Type: application/json", "-H", "Sec-Fetch-Site: cross-site", "-d", "{}", flush},
			"403 admin API: cross-site requests are refused"},
		{"urlencoded form", []string{"-d", "domain=example.com", flush},
			"415 admin API: a POST must be sent with Content-Type: application/json"},
		{"multipart form", []string{"-F", "domain=example.com", flush},
			"415 admin API: a POST must be sent with Content-Type: application/json"},
		{"text/plain", []string{"-H", "Content-Type: text/plain", "-d", `{"domain":"example.com"}`, flush},
			"415 admin API: a POST must be sent with Content-Type: application/json"},
		{"no body", []string{"-X", "POST", flush},
			"415 admin API: a POST must be sent with Content-Type: application/json"},
		{"DNS rebinding Host", []string{"-H", "Host: evil.example:9190", "-H", "Content-Type: application/json", "-d", "{}", flush},
			"403 admin API: without http.token_file the Host must be localhost or a loopback address"},
		{"GET of a state-changing path", []string{base + "/admin/queue/0123456789abcdef/hold"}, "405 "},
		{"the CLI's JSON call", []string{"-H", "Content-Type: application/json", "-d", `{"domain":"example.com"}`, flush},
			`200 {`},
		{"reading the queue", []string{base + "/admin/queue"}, "200 "},
	}
	for _, tc := range tests {
		args := append([]string{"-s", "-w", "\n%{http_code}", "--max-time", "30"}, tc.args...)
		out, err := exec.Command(curl, args...).Output()
		if err != nil {
			t.Fatalf("%s: curl: %v", tc.name, err)
		}
		i := strings.LastIndexByte(string(out), '\n')
		body, code := string(out[:i+1]), string(out[i+1:])
		if got := code + " " + strings.TrimSpace(body); !strings.HasPrefix(got, tc.want) {
			t.Errorf("%s: %q, want %q...", tc.name, got, tc.want)
		}
	}
	if out, code := srv.Run("", "queue", "flush", "--domain", "example.com", "-config", srv.ConfigPath); code != 0 {
		t.Errorf("mailgate queue flush: exit %d: %s", code, out)
	}
}
