package config

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary text to the config loader. It must never
// panic, and whatever is wrong must come back as Problems, each located
// in the file and saying what to write instead: an operator is never
// shown a bare library error. What it accepts must validate again.
func FuzzParse(f *testing.F) {
	f.Add(defaultYAML)
	if ex, err := os.ReadFile("../mailgate.example.yaml"); err == nil {
		f.Add(ex)
	}
	for _, s := range []string{
		"", "{}", "[]", "hostname: [", "listeners: 5", "limits: {max_message_size: 25QB}",
		"queue: {first_retry: -1s}", "unknown_key: 1", "listeners:\n  - name: mx\n    protocol: smtp\n    address: 127.0.0.1:99999\n",
		"a: &a [*a]", "hostname: !!binary aGVsbG8=", "limits:\n  max_connections: 1e400\n",
		"x: &a [1,1,1]\ny: &b [*a,*a,*a]\nz: &c [*b,*b,*b]\nw: [*c,*c,*c]\n", // alias expansion
		"filters:\n  dkim_sign:\n    keys:\n      - {domain: x, selector: y, file: /nonexistent}\n",
		"\xff\xfe\x00h\x00o", "hostname: \"\\u0000\"", "delivery:\n  dns: '[::1'\n", "tls:\n  cert_file: /dev/null\n",
		"hostname: mail.example.com\nlisteners: [{name: h, protocol: http, address: ':80'}]\ntls:\n  acme: {email: a@b.c, names: [mail.example.com, x], directory: 'https://ca/dir', challenge: http-01, accept_tos: true}\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.yaml", data, openFilters{})
		if err == nil {
			if c == nil {
				t.Fatal("nil config without an error")
			}
			v := &Validator{file: "again.yaml", lines: map[string]int{}, errs: &Errors{}}
			c.validate(v)
			if len(v.errs.Problems) != 0 {
				t.Fatalf("accepted config fails validation on a second look: %v", v.errs)
			}
			return
		}
		var es *Errors
		if !errors.As(err, &es) || len(es.Problems) == 0 {
			t.Fatalf("error is not a list of problems: %T %v", err, err)
		}
		for _, p := range es.Problems {
			// Path may be "" for a key the YAML gives no name (an anchored
			// empty key); the line still locates it (reported).
			if p.File != "fuzz.yaml" || p.Msg == "" {
				t.Fatalf("problem without file or message: %+v", p)
			}
			if strings.ContainsAny(p.Msg, "\n\r") {
				t.Fatalf("problem message spans lines: %q", p.Msg)
			}
		}
	})
}
