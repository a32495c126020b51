package filters

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mailgate/config"
)

// baseYAML is a valid config; cases append a filters block from line 7.
const baseYAML = `hostname: mx.example.org
listeners:
  - name: mx
    protocol: smtp
    address: 127.0.0.1:2525
    filters: [spf, dkim_verify, dmarc, milter, dkim_sign]
`

// TestConfigErrors checks the exact check-config line for each filter's
// bad options.
func TestConfigErrors(t *testing.T) {
	t.Parallel()
	key := writeKey(t, "ed25519")
	bad := filepath.Join(t.TempDir(), "bad.pem")
	os.WriteFile(bad, []byte("not a key"), 0o600)
	okBlock := "  milter: {address: 127.0.0.1:11332}\n  dkim_sign: {keys: [{domain: example.org, selector: s1, file: " + key + "}]}\n"
	cases := []struct{ name, filters, want string }{
		{"unknown filter key", "filters:\n  spff: {}\n" + okBlock,
			"mailgate.yaml:8: filters.spff: unknown key; valid keys here are: arc_verify, dkim_sign, dkim_verify, dmarc, dnsbl, milter, ratelimit, sender_policy, spf"},
		{"spf typo", "filters:\n  spf:\n    timout: 5s\n" + okBlock,
			"mailgate.yaml:9: filters.spf.timout: unknown key; valid keys here are: actions, timeout"},
		{"spf unknown result", "filters:\n  spf:\n    actions: {hardfail: reject}\n" + okBlock,
			`mailgate.yaml:9: filters.spf.actions.hardfail: "hardfail" is not a result of the spf filter; write one of fail, neutral, none, pass, permerror, softfail, temperror`},
		{"spf unknown action", "filters:\n  spf:\n    actions:\n      fail: bounce\n" + okBlock,
			`mailgate.yaml:10: filters.spf.actions.fail: "bounce" is not an action; write accept, tag, quarantine, tempfail or reject`},
		{"spf timeout", "filters:\n  spf: {timeout: 0s}\n" + okBlock,
			"mailgate.yaml:8: filters.spf.timeout: must be more than 0; write a duration such as 20s"},
		{"dkim_verify max", "filters:\n  dkim_verify:\n    max_signatures: 0\n" + okBlock,
			"mailgate.yaml:9: filters.dkim_verify.max_signatures: 0 is out of range; write a number from 1 to 50, such as 5"},
		{"dmarc discard", "filters:\n  dmarc:\n    actions: {fail_reject: discard}\n" + okBlock,
			"mailgate.yaml:9: filters.dmarc.actions.fail_reject: discard is only for the milter filter; write accept, tag, quarantine, tempfail or reject"},
		{"arc_verify timeout", "filters:\n  arc_verify: {timeout: 0s}\n" + okBlock,
			"mailgate.yaml:8: filters.arc_verify.timeout: must be more than 0; write a duration such as 20s"},
		{"dmarc sealer", "filters:\n  dmarc:\n    trusted_arc_sealers: [\"not a domain\"]\n" + okBlock,
			"mailgate.yaml:6: listeners[0].filters[2]: filters.dmarc.trusted_arc_sealers needs the ARC result; list arc_verify before dmarc\n" +
				`mailgate.yaml:9: filters.dmarc.trusted_arc_sealers[0]: "not a domain" is not a domain; write the d= domain of a forwarder's ARC-Seal, such as lists.example.org`},
		{"ratelimit negative", "filters:\n  ratelimit:\n    per_ip: {messages: -1}\n" + okBlock,
			"mailgate.yaml:9: filters.ratelimit.per_ip.messages: -1 is negative; write 0 for no limit or a number such as 1000"},
		{"ratelimit period", "filters:\n  ratelimit:\n    per_account:\n      period: 0s\n" + okBlock,
			"mailgate.yaml:10: filters.ratelimit.per_account.period: must be more than 0; write a duration such as 1h"},
		{"ratelimit buckets", "filters:\n  ratelimit:\n    max_buckets: 5\n" + okBlock,
			"mailgate.yaml:9: filters.ratelimit.max_buckets: 5 is too small to be useful; write 100 or more, such as 100000"},
		{"ratelimit override", "filters:\n  ratelimit:\n    accounts:\n      app: {messages: lots}\n" + okBlock,
			`mailgate.yaml:10: filters.ratelimit.accounts.app.messages: "lots" is not a whole number`},
		{"sender_policy typo", "filters:\n  sender_policy: {fixup: true}\n" + okBlock,
			"mailgate.yaml:8: filters.sender_policy.fixup: unknown key; valid keys here are: actions, fixups"},
		{"milter address missing", "filters:\n  dkim_sign: {keys: [{domain: example.org, selector: s1, file: " + key + "}]}\n",
			"mailgate.yaml:7: filters.milter.address: missing; write the milter's host:port such as 127.0.0.1:11332, or unix:/path/to/socket"},
		{"milter address bad", "filters:\n  milter:\n    address: nowhere\n  dkim_sign: {keys: [{domain: example.org, selector: s1, file: " + key + "}]}\n",
			`mailgate.yaml:9: filters.milter.address: "nowhere" is not host:port; write an address such as 127.0.0.1:11332, or unix:/path/to/socket`},
		{"milter error action", "filters:\n  milter:\n    address: 127.0.0.1:1\n    actions: {down: accept}\n  dkim_sign: {keys: [{domain: example.org, selector: s1, file: " + key + "}]}\n",
			`mailgate.yaml:10: filters.milter.actions.down: "down" is not a result of the milter filter; write one of accept, discard, error, quarantine, reject, tempfail`},
		{"dkim_sign no keys", "filters:\n  milter: {address: 127.0.0.1:11332}\n",
			"mailgate.yaml:7: filters.dkim_sign.keys: missing; list at least one key (domain, selector, file); `mailgate dkim keygen DOMAIN` makes one"},
		{"dkim_sign missing file", "filters:\n  milter: {address: 127.0.0.1:11332}\n  dkim_sign:\n    keys:\n      - domain: example.org\n        selector: s1\n        file: /nonexistent.pem\n",
			`mailgate.yaml:13: filters.dkim_sign.keys[0].file: cannot read key file "/nonexistent.pem" (no such file); write the path of a readable PEM private key`},
		{"dkim_sign bad file", "filters:\n  milter: {address: 127.0.0.1:11332}\n  dkim_sign:\n    keys:\n      - domain: example.org\n        selector: s1\n        file: " + bad + "\n",
			"mailgate.yaml:13: filters.dkim_sign.keys[0].file: key file \"" + bad + "\": not PEM; write the path of a PEM private key made by `mailgate dkim keygen`"},
		{"dkim_sign selector", "filters:\n  milter: {address: 127.0.0.1:11332}\n  dkim_sign:\n    keys:\n      - domain: example.org\n        selector: a b\n        file: " + key + "\n",
			`mailgate.yaml:12: filters.dkim_sign.keys[0].selector: "a b" is not a selector; write a DNS label such as mail2025`},
		{"dkim_sign default domain", "filters:\n  milter: {address: 127.0.0.1:11332}\n  dkim_sign:\n    default_domain: other.example\n    keys: [{domain: example.org, selector: s1, file: " + key + "}]\n",
			`mailgate.yaml:10: filters.dkim_sign.default_domain: "other.example" has no key in filters.dkim_sign.keys; add a key for it or write one of the keys' domains`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := config.Parse("mailgate.yaml", []byte(baseYAML+c.filters), Builtin())
			if err == nil {
				t.Fatalf("no error; want %s", c.want)
			}
			if got := err.Error(); got != c.want {
				t.Errorf("got\n%s\nwant\n%s", got, c.want)
			}
		})
	}
}

func TestConfigListenerOrder(t *testing.T) {
	t.Parallel()
	y := "hostname: mx.example.org\nlisteners:\n  - name: mx\n    protocol: smtp\n    address: 127.0.0.1:2525\n    filters: [dmarc, spf, dkim_verify, spf]\n"
	_, err := config.Parse("mailgate.yaml", []byte(y), Builtin())
	want := []string{
		"mailgate.yaml:6: listeners[0].filters[0]: dmarc uses the results of spf; list spf before dmarc",
		"mailgate.yaml:6: listeners[0].filters[0]: dmarc uses the results of dkim_verify; list dkim_verify before dmarc",
		"mailgate.yaml:6: listeners[0].filters[3]: spf is listed twice; list each filter once",
	}
	if err == nil {
		t.Fatal("no error")
	}
	got := strings.Split(err.Error(), "\n")
	if strings.Join(sorted(got), "\n") != strings.Join(sorted(want), "\n") {
		t.Errorf("got\n%s\nwant\n%s", err, strings.Join(want, "\n"))
	}
}

// TestConfigSigningNeedsSenderPolicy: a submission listener that signs
// must also keep accounts to their own addresses, or it would sign any
// From a logged-in account writes.
func TestConfigSigningNeedsSenderPolicy(t *testing.T) {
	t.Parallel()
	key := writeKey(t, "ed25519")
	y := "hostname: mx.example.org\nlisteners:\n  - name: submission\n    protocol: submission\n    address: 127.0.0.1:2587\n    filters: [ratelimit, dkim_sign]\n" +
		"filters:\n  dkim_sign:\n    keys: [{domain: example.org, selector: s1, file: " + key + "}]\n"
	_, err := config.Parse("mailgate.yaml", []byte(y), Builtin())
	want := "mailgate.yaml:6: listeners[0].filters[1]: dkim_sign would sign whatever address a logged-in account writes; list sender_policy too"
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
	if _, err := config.Parse("mailgate.yaml", []byte(strings.Replace(y, "[ratelimit, dkim_sign]", "[dkim_sign, sender_policy]", 1)), Builtin()); err != nil {
		t.Errorf("with sender_policy: %v", err)
	}
}

func TestConfigValid(t *testing.T) {
	t.Parallel()
	key := writeKey(t, "rsa")
	y := baseYAML + "filters:\n  milter: {address: unix:/run/rspamd/milter.sock}\n  spf:\n    actions: {softfail: reject}\n" +
		"  ratelimit:\n    accounts:\n      app: {messages: 100000}\n  dkim_sign:\n    default_domain: example.org\n    keys: [{domain: example.org, selector: s1, file: " + key + "}]\n"
	c, err := config.Parse("mailgate.yaml", []byte(y), Builtin())
	if err != nil {
		t.Fatal(err)
	}
	reg := Builtin()
	spf := reg.kinds["spf"].actions(c.Filters.Settings("spf"))
	if got := spf["softfail"]; got != "reject" {
		t.Errorf("softfail action = %q", got)
	}
	if got := spf["fail"]; got != "reject" {
		t.Errorf("default fail action = %q", got)
	}
	for _, name := range reg.FilterNames() {
		if reg.Results(name) == nil {
			t.Errorf("filter %s has no result table", name)
		}
	}
}
