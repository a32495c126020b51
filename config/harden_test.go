package config_test

import (
	"strings"
	"testing"

	"mailgate/config"
	"mailgate/filters"
)

// TestOperatorMistakes: mistakes operators made (issue 14) are reported
// at the line they are on, with what to write instead.
func TestOperatorMistakes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, yaml string
		want       []string
	}{{
		name: "a filter list where the filters' settings go",
		yaml: "hostname: mail.example.com\nfilters: [dmarc, spff]\n",
		want: []string{
			`f.yaml:2: filters: here each filter's settings go, as a mapping (spf: {...}); the list of filters to run goes on each SMTP listener, as listeners[N].filters: [...]`,
			`f.yaml:2: filters[1]: "spff" is not a filter; write one of arc_verify, dkim_sign, dkim_verify, dmarc, dnsbl, milter, ratelimit, sender_policy, spf`,
		},
	}, {
		name: "a key indented less than its list item, far from the list's start",
		yaml: "hostname: mail.example.com\nlisteners:\n  - name: mx\n    protocol: smtp\n    address: 127.0.0.1:25\n" +
			"  - name: imap\n    protocol: imap\n   address: 127.0.0.1:143\n",
		want: []string{`f.yaml:8: (file): not valid YAML: did not find expected '-' indicator`},
	}, {
		name: "a tab in the indentation",
		yaml: "hostname: mail.example.com\nlisteners:\n  - name: mx\n    protocol: smtp\n    address: 127.0.0.1:25\n\tfilters: [spf]\n",
		want: []string{`f.yaml:6: (file): not valid YAML: found a tab character that violates indentation`},
	}, {
		name: "imap per-address limits out of range",
		yaml: "mailbox:\n  imap_max_connections: 10\n  imap_max_connections_per_ip: 20\n  imap_max_user_ip_connections: 0\n  imap_login_timeout: 1s\n",
		want: []string{
			`f.yaml:3: mailbox.imap_max_connections_per_ip: 20 is not allowed; write a number from 1 to imap_max_connections (10)`,
			`f.yaml:4: mailbox.imap_max_user_ip_connections: 0 is not allowed; write a number from 1 to imap_max_connections_per_ip (20)`,
			`f.yaml:5: mailbox.imap_login_timeout: must be from 5s to imap_idle_timeout; write a duration such as 60s`,
		},
	}, {
		name: "imap session recheck out of range",
		yaml: "mailbox:\n  imap_session_recheck: 500ms\n",
		want: []string{`f.yaml:2: mailbox.imap_session_recheck: must be from 1s to imap_idle_timeout; write a duration such as 30s`},
	}, {
		name: "account throttle off",
		yaml: "auth:\n  max_account_failures: 0\n",
		want: []string{`f.yaml:2: auth.max_account_failures: 0 is not allowed; write a number of 1 or more, such as 20`},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := config.Parse("f.yaml", []byte(tc.yaml), filters.Builtin())
			if err == nil {
				t.Fatal("accepted")
			}
			if got, want := err.Error(), strings.Join(tc.want, "\n"); got != want {
				t.Errorf("problems:\n got:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

// TestIMAPLimitsFitASmallServer: per-address limits left at their
// defaults shrink to a smaller imap_max_connections instead of failing.
func TestIMAPLimitsFitASmallServer(t *testing.T) {
	t.Parallel()
	c, err := config.Parse("f.yaml", []byte("mailbox:\n  imap_max_connections: 8\n"), filters.Builtin())
	if err != nil {
		t.Fatal(err)
	}
	if m := c.Mailbox; m.IMAPMaxConnectionsPerIP != 8 || m.IMAPMaxUserIPConnections != 8 || m.IMAPLoginTimeout.D().Seconds() != 60 {
		t.Errorf("limits = %d per address, %d per account and address, %v to log in", m.IMAPMaxConnectionsPerIP, m.IMAPMaxUserIPConnections, m.IMAPLoginTimeout.D())
	}
}
