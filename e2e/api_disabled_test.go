package e2e

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"mailgate/internal/mgtest"
	"mailgate/internal/testenv"
)

// TestAPIKeyOfDisabledAccount: an account disabled in the console can no
// longer use its API keys on the HTTP API (curl, plain HTTP on
// loopback): POST and GET answer 403 with a JSON error that says the
// account is disabled; enabling it again in the console restores both;
// once the account is deleted its key gets 403 account_gone.
func TestAPIKeyOfDisabledAccount(t *testing.T) {
	t.Parallel()
	curl := testenv.Tool(t, "curl")
	srv := consoleServer(t, "", mgtest.Options{})
	out, code := srv.Run("", "apikey", "add", consoleUser, "-config", srv.ConfigPath)
	key, _, _ := strings.Cut(out, "\n")
	if code != 0 || !strings.HasPrefix(key, "mgk_") {
		t.Fatalf("apikey add: %s", out)
	}
	api := func(method, path, body string) (int, string) {
		t.Helper()
		args := []string{"-sS", "-X", method, "-w", "\n%{http_code}", "-H", "Authorization: Bearer " + key, "http://" + srv.Addr["http"] + path}
		if body != "" {
			args = append(args, "-H", "Content-Type: application/json", "-d", body)
		}
		b, err := exec.Command(curl, args...).CombinedOutput()
		i := strings.LastIndexByte(string(b), '\n')
		n, _ := strconv.Atoi(string(b[i+1:]))
		if err != nil || n == 0 {
			t.Fatalf("curl %s %s: %v\n%s", method, path, err, b)
		}
		return n, strings.TrimRight(string(b[:max(i, 0)]), "\n")
	}
	send := `{"from":"` + consoleUser + `","to":["` + consoleAdmin + `"],"subject":"api-disabled","text":"hi"}`
	code, body := api("POST", "/api/v1/messages", send)
	var acc struct{ ID string }
	if code != 202 || json.Unmarshal([]byte(body), &acc) != nil || acc.ID == "" {
		t.Fatalf("send while enabled: %d %s", code, body)
	}

	admin := newBrowser(t, "http://"+srv.Addr["http"], nil)
	admin.login(consoleAdmin, consoleAdminPass)
	toggle := func(action string) {
		t.Helper()
		page := "/admin/accounts/" + consoleUser
		if code, body, _ := admin.post(page+"/"+action, url.Values{"csrf": {admin.csrf(page)}}); code != http.StatusSeeOther {
			t.Fatalf("%s in the console: %d\n%s", action, code, body)
		}
	}
	toggle("disable")
	want := `{"error":{"code":"account_disabled","message":"the account ` + consoleUser + ` of this API key is disabled; ask the operator to enable it"}}`
	for _, c := range [][2]string{{"POST", "/api/v1/messages"}, {"GET", "/api/v1/messages/" + acc.ID}} {
		b := ""
		if c[0] == "POST" {
			b = send
		}
		if code, body := api(c[0], c[1], b); code != 403 || body != want {
			t.Errorf("%s %s while disabled: %d %s\nwant 403 %s", c[0], c[1], code, body, want)
		}
	}

	toggle("enable")
	if code, body := api("GET", "/api/v1/messages/"+acc.ID, ""); code != 200 || !strings.Contains(body, `"id":"`+acc.ID+`"`) {
		t.Errorf("status after enabling: %d %s", code, body)
	}
	if code, body := api("POST", "/api/v1/messages", send); code != 202 {
		t.Errorf("send after enabling: %d %s", code, body)
	}

	// Deleted: the key outlives its account in the key file, and is
	// refused as belonging to no account.
	if out, code := srv.Run("", "user", "del", consoleUser, "-config", srv.ConfigPath); code != 0 {
		t.Fatalf("user del: %s", out)
	}
	gone := `{"error":{"code":"account_gone","message":"the account ` + consoleUser + ` of this API key no longer exists"}}`
	if code, body := api("POST", "/api/v1/messages", send); code != 403 || body != gone {
		t.Errorf("send after the account was deleted: %d %s\nwant 403 %s", code, body, gone)
	}
}
