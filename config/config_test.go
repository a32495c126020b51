package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mailgate/config"
	"mailgate/filters"
)

// TestParseProblems feeds one bad value per case and expects the exact
// lines an operator sees from `mailgate check-config`: FILE:LINE: key: message.
func TestParseProblems(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{
			name: "port out of range",
			yaml: "listeners:\n  - name: mx\n    protocol: smtp\n    address: 127.0.0.1:70000\n",
			want: []string{`f.yaml:4: listeners[0].address: port "70000" is out of range; write a port from 1 to 65535`},
		},
		{
			name: "port zero",
			yaml: "listeners:\n  - name: mx\n    protocol: smtp\n    address: 127.0.0.1:0\n",
			want: []string{`f.yaml:4: listeners[0].address: port "0" is out of range; write a port from 1 to 65535`},
		},
		{
			name: "address without port",
			yaml: "listeners:\n  - name: mx\n    protocol: smtp\n    address: 127.0.0.1\n",
			want: []string{`f.yaml:4: listeners[0].address: "127.0.0.1" is not host:port; write an address such as 127.0.0.1:25 or [::1]:25`},
		},
		{
			name: "missing certificate file",
			yaml: "tls:\n  cert_file: /nonexistent/fullchain.pem\n  key_file: /nonexistent/privkey.pem\n",
			want: []string{
				`f.yaml:2: tls.cert_file: cannot read certificate file "/nonexistent/fullchain.pem" (no such file); write the path of an existing, readable file`,
				`f.yaml:3: tls.key_file: cannot read private key file "/nonexistent/privkey.pem" (no such file); write the path of an existing, readable file`,
			},
		},
		{
			name: "certificate without key",
			yaml: "hostname: mail.example.com\ntls:\n  cert_file: " + existingFile + "\n",
			want: []string{`f.yaml:2: tls: cert_file and key_file go together; give both, or neither for a self-signed certificate`},
		},
		{
			name: "more certificates: a pair without its key, a missing file",
			yaml: "tls:\n  cert_file: " + existingFile + "\n  key_file: " + existingFile + "\n  more_certificates:\n" +
				"    - cert_file: " + existingFile + "\n    - cert_file: /nonexistent/ec.pem\n      key_file: " + existingFile + "\n",
			want: []string{
				`f.yaml:5: tls.more_certificates[0]: cert_file and key_file go together; give both`,
				`f.yaml:6: tls.more_certificates[1].cert_file: cannot read certificate file "/nonexistent/ec.pem" (no such file); write the path of an existing, readable file`,
			},
		},
		{
			name: "more certificates without the first pair",
			yaml: "tls:\n  more_certificates:\n    - {cert_file: " + existingFile + ", key_file: " + existingFile + "}\n",
			want: []string{`f.yaml:2: tls.more_certificates: needs tls.cert_file and tls.key_file; give the first pair there`},
		},
		{
			name: "console admin not an address",
			yaml: "http:\n  admins:\n    - postmaster@example.com\n    - postmaster\n",
			want: []string{`f.yaml:4: http.admins[1]: "postmaster" is not an account address; write the address of an account, such as postmaster@example.com`},
		},
		{
			name: "console session lifetime below idle",
			yaml: "http:\n  session_idle: 1h\n  session_lifetime: 10m\n",
			want: []string{`f.yaml:3: http.session_lifetime: must be at least http.session_idle; write a duration such as 12h`},
		},
		{
			name: "hostname not a domain",
			yaml: "hostname: mail_example\n",
			want: []string{`f.yaml:1: hostname: "mail_example" is not a host name; write a fully qualified name such as mail.example.com`},
		},
		{
			name: "local domain not a domain",
			yaml: "local_domains:\n  - example.com\n  - not a domain\n",
			want: []string{`f.yaml:3: local_domains[1]: "not a domain" is not a domain; write a domain name such as example.com`},
		},
		{
			name: "local domain with an at sign",
			yaml: "local_domains: [user@example.com]\n",
			want: []string{`f.yaml:1: local_domains[0]: "user@example.com" is not a domain; write a domain name such as example.com`},
		},
		{
			name: "negative size",
			yaml: "limits:\n  max_message_size: -5MB\n",
			want: []string{`f.yaml:2: limits.max_message_size: "-5MB" is negative; write a size of zero or more, such as 25MB`},
		},
		{
			name: "unparsable size",
			yaml: "mailbox:\n  default_quota: lots\n",
			want: []string{`f.yaml:2: mailbox.default_quota: "lots" is not a size; write a whole number of bytes, optionally with KB, MB or GB, such as 25MB`},
		},
		{
			name: "unparsable duration",
			yaml: "limits:\n  command_timeout: 5 minutes\n",
			want: []string{`f.yaml:2: limits.command_timeout: "5 minutes" is not a duration; write a number with a unit, such as 30s, 5m, 4h or 5d`},
		},
		{
			name: "negative duration",
			yaml: "auth:\n  lockout: -1s\n",
			want: []string{`f.yaml:2: auth.lockout: "-1s" is negative; write a duration of zero or more`},
		},
		{
			name: "duplicate listener address",
			yaml: "listeners:\n  - name: a\n    protocol: smtp\n    address: 127.0.0.1:25\n  - name: b\n    protocol: submission\n    address: 127.0.0.1:25\n",
			want: []string{`f.yaml:7: listeners[1].address: 127.0.0.1:25 is already used by listeners[0]; give each listener its own address`},
		},
		{
			name: "wildcard address overlaps a specific one",
			yaml: "listeners:\n  - name: a\n    protocol: smtp\n    address: 0.0.0.0:25\n  - name: b\n    protocol: submission\n    address: 127.0.0.1:25\n",
			want: []string{`f.yaml:7: listeners[1].address: 127.0.0.1:25 is already used by listeners[0]; give each listener its own address`},
		},
		{
			name: "same address spelt differently",
			yaml: "listeners:\n  - name: a\n    protocol: smtp\n    address: '[::1]:25'\n  - name: b\n    protocol: submission\n    address: '[0:0::1]:025'\n",
			want: []string{`f.yaml:7: listeners[1].address: [0:0::1]:025 is already used by listeners[0]; give each listener its own address`},
		},
		{
			name: "duplicate listener name",
			yaml: "listeners:\n  - name: a\n    protocol: smtp\n    address: 127.0.0.1:25\n  - name: a\n    protocol: submission\n    address: 127.0.0.1:587\n",
			want: []string{`f.yaml:5: listeners[1].name: listener name "a" is used twice; give each listener its own name`},
		},
		{
			name: "unknown protocol",
			yaml: "listeners:\n  - name: a\n    protocol: smtps\n    address: 127.0.0.1:465\n",
			want: []string{`f.yaml:3: listeners[0].protocol: "smtps" is not a protocol; write one of smtp, submission, submissions, lmtp, imap, imaps, pop3, pop3s, managesieve, http, api`},
		},
		{
			name: "unknown top-level key",
			yaml: "hostnme: mail.example.com\n",
			want: []string{`f.yaml:1: hostnme: unknown key; valid keys here are: auth, cluster, data_dir, delivery, filters, hostname, http, limits, listeners, local_domains, log, mailbox, mta_sts, queue, reports, sieve, tls`},
		},
		{
			name: "empty key (an anchor alone in key position)",
			yaml: "&a :\nlimits:\n  \"\": 5\n",
			want: []string{
				`f.yaml:1: "": unknown key; valid keys here are: auth, cluster, data_dir, delivery, filters, hostname, http, limits, listeners, local_domains, log, mailbox, mta_sts, queue, reports, sieve, tls`,
				`f.yaml:3: limits."": unknown key; valid keys here are: command_timeout, data_timeout, max_connections, max_connections_per_ip, max_errors, max_line_length, max_message_size, max_received_headers, max_recipients`,
			},
		},
		{
			name: "unknown nested key",
			yaml: "limits:\n  max_recipient: 5\n",
			want: []string{`f.yaml:2: limits.max_recipient: unknown key; valid keys here are: command_timeout, data_timeout, max_connections, max_connections_per_ip, max_errors, max_line_length, max_message_size, max_received_headers, max_recipients`},
		},
		{
			name: "unknown key in a list item",
			yaml: "listeners:\n  - name: a\n    protocol: smtp\n    adress: 127.0.0.1:25\n",
			want: []string{
				`f.yaml:2: listeners[0].address: missing; write an address such as 127.0.0.1:25 or [::1]:25`,
				`f.yaml:4: listeners[0].adress: unknown key; valid keys here are: address, allow_insecure_auth, filters, name, protocol, proxy_protocol, socket_mode, socket_owner, trusted_proxies`,
			},
		},
		{
			name: "key given twice",
			yaml: "hostname: a.example.com\nhostname: b.example.com\n",
			want: []string{`f.yaml:2: hostname: key given twice; keep one`},
		},
		{
			name: "wrong type: word for a number",
			yaml: "limits:\n  max_recipients: lots\n",
			want: []string{`f.yaml:2: limits.max_recipients: "lots" is not a whole number`},
		},
		{
			name: "wrong type: list for a number",
			yaml: "limits:\n  max_recipients: [1, 2]\n",
			want: []string{`f.yaml:2: limits.max_recipients: expected a whole number, not a list or mapping`},
		},
		{
			name: "wrong type: mapping for a list",
			yaml: "local_domains:\n  example.com: yes\n",
			want: []string{`f.yaml:2: local_domains: expected a list (- item)`},
		},
		{
			name: "wrong type: word for a boolean",
			yaml: "listeners:\n  - name: a\n    protocol: submission\n    address: 127.0.0.1:587\n    allow_insecure_auth: maybe\n",
			want: []string{`f.yaml:5: listeners[0].allow_insecure_auth: "maybe" is not true or false`},
		},
		{
			name: "wrong type: scalar for a section",
			yaml: "limits: 5\n",
			want: []string{`f.yaml:1: limits: expected a mapping of keys to values`},
		},
		{
			name: "whole file is not a mapping",
			yaml: "just some text\n",
			want: []string{`f.yaml:1: (file): expected a mapping of keys to values`},
		},
		{
			name: "invalid YAML: unclosed flow list",
			yaml: "hostname: mail.example.com\nlocal_domains: [example.com\n",
			want: []string{`f.yaml:2: (file): not valid YAML: did not find expected ',' or ']'`},
		},
		{
			name: "invalid YAML: bad indentation",
			yaml: "hostname: mail.example.com\n  data_dir: /var/lib/mailgate\n",
			want: []string{`f.yaml:2: (file): not valid YAML: mapping values are not allowed in this context`},
		},
		{
			name: "invalid YAML: tab indentation",
			yaml: "limits:\n\tmax_recipients: 5\n",
			want: []string{`f.yaml:2: (file): not valid YAML: found character that cannot start any token`},
		},
		{
			name: "number below its minimum",
			yaml: "limits:\n  max_recipients: 0\n  max_line_length: 500\n  max_received_headers: 0\n",
			want: []string{
				`f.yaml:2: limits.max_recipients: 0 is not allowed; write a number of 1 or more`,
				`f.yaml:3: limits.max_line_length: 500 is below the 1000 octets RFC 5321 requires; write 1000 or more`,
				`f.yaml:4: limits.max_received_headers: 0 is not allowed; write a number of 1 or more`,
			},
		},
		{
			name: "several problems at once, in line order",
			yaml: "hostname: bad_host\n" + // 1
				"local_domains: [example.com, '-bad-']\n" + // 2
				"colour: blue\n" + // 3
				"limits:\n" + // 4
				"  max_message_size: -1\n" + // 5
				"  data_timeout: soon\n" + // 6
				"listeners:\n" + // 7
				"  - name: mx\n" + // 8
				"    protocol: smtp\n" + // 9
				"    address: 0.0.0.0:99999\n" + // 10
				"  - name: sub\n" + // 11
				"    protocol: submission\n" + // 12
				"    address: 0.0.0.0:587\n" + // 13
				"  - name: sub2\n" + // 14
				"    protocol: submissions\n" + // 15
				"    address: 0.0.0.0:587\n" + // 16
				"tls:\n" + // 17
				"  cert_file: /nonexistent/cert.pem\n" + // 18
				"  key_file: /nonexistent/key.pem\n", // 19
			want: []string{
				`f.yaml:1: hostname: "bad_host" is not a host name; write a fully qualified name such as mail.example.com`,
				`f.yaml:2: local_domains[1]: "-bad-" is not a domain; write a domain name such as example.com`,
				`f.yaml:3: colour: unknown key; valid keys here are: auth, cluster, data_dir, delivery, filters, hostname, http, limits, listeners, local_domains, log, mailbox, mta_sts, queue, reports, sieve, tls`,
				`f.yaml:5: limits.max_message_size: "-1" is negative; write a size of zero or more, such as 25MB`,
				`f.yaml:6: limits.data_timeout: "soon" is not a duration; write a number with a unit, such as 30s, 5m, 4h or 5d`,
				`f.yaml:10: listeners[0].address: port "99999" is out of range; write a port from 1 to 65535`,
				`f.yaml:16: listeners[2].address: 0.0.0.0:587 is already used by listeners[1]; give each listener its own address`,
				`f.yaml:18: tls.cert_file: cannot read certificate file "/nonexistent/cert.pem" (no such file); write the path of an existing, readable file`,
				`f.yaml:19: tls.key_file: cannot read private key file "/nonexistent/key.pem" (no such file); write the path of an existing, readable file`,
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := config.Parse("f.yaml", []byte(tc.yaml), filters.Builtin())
			if err == nil {
				t.Fatalf("Parse accepted the config (%+v); want:\n%s", c, strings.Join(tc.want, "\n"))
			}
			var errs *config.Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error is %T, want *config.Errors: %v", err, err)
			}
			if got, want := err.Error(), strings.Join(tc.want, "\n"); got != want {
				t.Errorf("problems:\n got:\n%s\nwant:\n%s", got, want)
			}
			if len(errs.Problems) != len(tc.want) {
				t.Errorf("got %d problems, want %d", len(errs.Problems), len(tc.want))
			}
		})
	}
}

// existingFile is a path every test machine has, for cases where a file
// must exist but its content does not matter.
const existingFile = "/etc/hostname"

// TestParseValid covers files that must load, and what they load to.
func TestParseValid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		yaml  string
		check func(t *testing.T, c *config.Config)
	}{
		{
			name: "empty file means every default",
			yaml: "",
			check: func(t *testing.T, c *config.Config) {
				if c.Hostname != "localhost" || c.Limits.MaxRecipients != 100 {
					t.Errorf("defaults not applied: %+v", c)
				}
			},
		},
		{
			name: "only comments means every default",
			yaml: "# nothing here yet\n",
			check: func(t *testing.T, c *config.Config) {
				if c.DataDir != "./mailgate-data" {
					t.Errorf("data_dir = %q", c.DataDir)
				}
			},
		},
		{
			name: "sizes and durations with units",
			yaml: "limits:\n  max_message_size: 10MB\n  command_timeout: 2m\nqueue:\n  max_age: 3d\n",
			check: func(t *testing.T, c *config.Config) {
				if c.Limits.MaxMessageSize != 10<<20 {
					t.Errorf("max_message_size = %d", c.Limits.MaxMessageSize)
				}
				if c.Limits.CommandTimeout.D().String() != "2m0s" || c.Queue.MaxAge.D().Hours() != 72 {
					t.Errorf("durations = %v, %v", c.Limits.CommandTimeout.D(), c.Queue.MaxAge.D())
				}
			},
		},
		{
			name: "the same port on two addresses",
			yaml: "listeners:\n  - name: a\n    protocol: smtp\n    address: 127.0.0.1:25\n  - name: b\n    protocol: smtp\n    address: '[::1]:25'\n",
			check: func(t *testing.T, c *config.Config) {
				if len(c.Listeners) != 2 {
					t.Errorf("listeners = %+v", c.Listeners)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := config.Parse("f.yaml", []byte(tc.yaml), filters.Builtin())
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if c.File != "f.yaml" {
				t.Errorf("File = %q", c.File)
			}
			tc.check(t, c)
		})
	}
}

// TestDefaultIsValid: `mailgate serve` with no -config runs on the embedded
// default, so it must parse, and it must be the loopback installation the
// README promises.
func TestDefaultIsValid(t *testing.T) {
	t.Parallel()
	if _, err := config.Parse(config.DefaultName, config.DefaultYAML(), filters.Builtin()); err != nil {
		t.Fatalf("embedded default config is invalid:\n%v", err)
	}
	c := config.Default(filters.Builtin())
	if c.Hostname != "localhost" || c.DataDir != "./mailgate-data" || strings.Join(c.LocalDomains, ",") != "localhost" {
		t.Errorf("default = hostname %q, data_dir %q, local_domains %v", c.Hostname, c.DataDir, c.LocalDomains)
	}
	want := map[string]string{"smtp": "127.0.0.1:2525", "submission": "127.0.0.1:2587", "submissions": "127.0.0.1:2465"}
	got := map[string]string{}
	for _, l := range c.Listeners {
		got[l.Protocol] = l.Address
	}
	for proto, addr := range want {
		if got[proto] != addr {
			t.Errorf("default %s listener at %q, want %q", proto, got[proto], addr)
		}
	}
}

// TestLoad reads from disk: a missing file is an error naming it.
func TestLoad(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "mailgate.yaml")
	if _, err := config.Load(path, filters.Builtin()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing) = %v, want not-exist", err)
	}
	if err := os.WriteFile(path, []byte("hostname: [\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := config.Load(path, filters.Builtin())
	if err == nil || !strings.HasPrefix(err.Error(), path+":2: (file): not valid YAML:") {
		t.Errorf("Load(bad) = %v, want %s:2: (file): not valid YAML: ...", err, path)
	}
}
