package config_test

import (
	"slices"
	"strings"
	"testing"

	"mailgate/config"
	"mailgate/filters"
)

// TestACMEProblems: every way tls.acme can be wrong, as check-config
// prints it (FILE:LINE: key: message).
func TestACMEProblems(t *testing.T) {
	t.Parallel()
	const imaps = "listeners:\n  - {name: imaps, protocol: imaps, address: 127.0.0.1:993}\n"
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{
			name: "with certificate files",
			yaml: "hostname: mail.example.com\n" + imaps + "tls:\n  cert_file: " + existingFile + "\n  key_file: " + existingFile +
				"\n  acme:\n    accept_tos: true\n",
			want: []string{`f.yaml:7: tls.acme: cannot be used with tls.cert_file, key_file or more_certificates; remove either the files or the acme block`},
		},
		{
			name: "each key wrong",
			yaml: "hostname: mail.example.com\nlisteners:\n  - {name: http, protocol: http, address: 127.0.0.1:80}\ntls:\n  acme:\n" +
				"    email: postmaster\n    directory: http://ca.example/dir\n    names: [mta-sts.example.com, mail]\n" +
				"    ca_file: /nonexistent/ca.pem\n    challenge: dns-01\n    accept_tos: false\n",
			want: []string{
				`f.yaml:6: tls.acme.email: "postmaster" is not an email address; write one such as postmaster@example.com`,
				`f.yaml:7: tls.acme.directory: "http://ca.example/dir" is not an https:// URL; write the CA's directory URL, or leave it out for Let's Encrypt (https://acme-v02.api.letsencrypt.org/directory)`,
				`f.yaml:8: tls.acme.names[1]: "mail" cannot get a certificate from a CA; write the server's public host name, such as mail.example.com`,
				`f.yaml:8: tls.acme.names: must include the hostname "mail.example.com": clients that name no server (most SMTP clients) get its certificate; add it`,
				`f.yaml:9: tls.acme.ca_file: cannot read CA certificate file "/nonexistent/ca.pem" (no such file); write the path of an existing, readable file`,
				`f.yaml:10: tls.acme.challenge: "dns-01" is not a challenge; write tls-alpn-01 or http-01`,
				`f.yaml:11: tls.acme.accept_tos: must be true: the CA issues certificates only to accounts that agree to its terms of service (Let's Encrypt: https://letsencrypt.org/repository/); read them, then write accept_tos: true`,
			},
		},
		{
			name: "tls-alpn-01 without a listener with implicit TLS",
			yaml: "hostname: mail.example.com\nlisteners:\n  - {name: mx, protocol: smtp, address: 127.0.0.1:25}\ntls:\n  acme:\n    accept_tos: true\n",
			want: []string{`f.yaml:5: tls.acme.challenge: tls-alpn-01 is answered on port 443 by a listener with TLS from the first byte, and there is none; add one such as {name: https, protocol: api, address: "[::]:443"}, or use challenge: http-01 with an http listener on port 80`},
		},
		{
			name: "http-01 without the http listener",
			yaml: "hostname: mail.example.com\n" + imaps + "tls:\n  acme:\n    challenge: http-01\n    accept_tos: true\n",
			want: []string{`f.yaml:6: tls.acme.challenge: http-01 is answered on port 80 by the http listener, and there is none; add one such as {name: http, protocol: http, address: "[::]:80"}, or use challenge: tls-alpn-01`},
		},
		{
			name: "the default name is a hostname no CA certifies",
			yaml: imaps + "tls:\n  acme:\n    accept_tos: true\n",
			want: []string{`f.yaml:1: hostname: "localhost" cannot get a certificate from a CA; write the server's public host name, such as mail.example.com`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := config.Parse("f.yaml", []byte(tc.yaml), filters.Builtin())
			if err == nil {
				t.Fatalf("Parse accepted the config; want:\n%s", strings.Join(tc.want, "\n"))
			}
			if got, want := err.Error(), strings.Join(tc.want, "\n"); got != want {
				t.Errorf("problems:\n got:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

// TestACMEDefaults: a minimal block gets Let's Encrypt, tls-alpn-01 and
// the hostname; given names are kept, lower case.
func TestACMEDefaults(t *testing.T) {
	t.Parallel()
	base := "hostname: Mail.Example.com\nlisteners:\n  - {name: https, protocol: api, address: '[::]:443'}\n  - {name: http, protocol: http, address: '[::]:80'}\ntls:\n  acme:\n    accept_tos: true\n"
	c, err := config.Parse("f.yaml", []byte(base), filters.Builtin())
	if err != nil {
		t.Fatal(err)
	}
	a := c.TLS.ACME
	if a.DirectoryURL() != config.LetsEncrypt || a.ChallengeType() != config.ChallengeTLSALPN ||
		!slices.Equal(a.NamesFor(c.Hostname), []string{"mail.example.com"}) {
		t.Errorf("defaults: directory %q, challenge %q, names %q", a.DirectoryURL(), a.ChallengeType(), a.NamesFor(c.Hostname))
	}
	c, err = config.Parse("f.yaml", []byte(base+"    challenge: http-01\n    names: [mail.example.com, MTA-STS.example.com.]\n    email: postmaster@example.com\n"), filters.Builtin())
	if err != nil {
		t.Fatal(err)
	}
	if got := c.TLS.ACME.NamesFor(c.Hostname); !slices.Equal(got, []string{"mail.example.com", "mta-sts.example.com"}) {
		t.Errorf("names %q", got)
	}
}
