package e2e

import (
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"mailgate/internal/mgtest"
	"mailgate/internal/testenv"
)

// swaksMessage is sent as the whole DATA (headers and body), CRLF ended.
const swaksMessage = "From: Alice <alice@localhost>\r\n" +
	"To: carol@remote.example\r\n" +
	"Subject: swaks SUBJ\r\n" +
	"Message-ID: <swaks-SUBJ@localhost>\r\n" +
	"\r\n" +
	"Sent by swaks to mailgate.\r\n" +
	"Line two.\r\n"

var queuedRE = regexp.MustCompile(`(?m)^<~  (250 2\.0\.0 OK: queued as ([0-9a-f]{19}))$`)

// TestSwaks: authenticated submission with swaks, once with STARTTLS on
// the submission port and once with implicit TLS on submissions.
func TestSwaks(t *testing.T) {
	t.Parallel()
	swaks := testenv.Tool(t, "swaks")
	srv := mgtest.Start(t, mgtest.Options{Users: map[string]string{"alice@localhost": "s3cret pass"}})
	tests := []struct {
		name, listener, tlsFlag string
	}{
		{"starttls", "submission", "--tls"},
		{"implicit-tls", "submissions", "--tlsc"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			msg := strings.ReplaceAll(swaksMessage, "SUBJ", tc.name)
			host, port, _ := strings.Cut(srv.Addr[tc.listener], ":")
			cmd := exec.Command(swaks, "--server", host, "--port", port, tc.tlsFlag,
				"--ehlo", "client.example.net",
				"--auth", "PLAIN", "--auth-user", "alice@localhost", "--auth-password", "s3cret pass",
				"--from", "alice@localhost", "--to", "carol@remote.example",
				"--data", "-", "--timeout", "30")
			// swaks ends the data with CRLF "." CRLF itself, so the final
			// CRLF is left to it.
			cmd.Stdin = strings.NewReader(strings.TrimSuffix(msg, "\r\n"))
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("swaks: %v\n%s", err, out)
			}
			m := queuedRE.FindStringSubmatch(string(out))
			if m == nil {
				t.Fatalf("no '<~  250 2.0.0 OK: queued as ID' line in swaks output:\n%s", out)
			}
			env, raw := readSpool(t, srv.SpoolDir(), m[2])
			if got := string(bodyAfterReceived(t, raw)); got != msg {
				t.Errorf("stored message:\n%q\nwant:\n%q", got, msg)
			}
			head := string(raw[:len(raw)-len(msg)])
			for _, want := range []string{"from client.example.net ([127.0.0.1])", "with ESMTPSA id " + m[2], "(version=TLS 1.3 cipher=", "(authenticated as alice@localhost)", "for <carol@remote.example>"} {
				if !strings.Contains(head, want) {
					t.Errorf("Received header lacks %q:\n%s", want, head)
				}
			}
			if env.Account != "alice@localhost" || env.From != "alice@localhost" || len(env.Recipients) != 1 ||
				env.Recipients[0].Addr != "carol@remote.example" || env.Listener != tc.listener {
				t.Errorf("envelope %+v", env)
			}
		})
	}
}
