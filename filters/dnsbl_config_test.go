package filters

import (
	"testing"

	"mailgate/config"
)

// TestDNSBLConfigErrors: check-config's exact lines for the dnsbl block,
// through the registry.
func TestDNSBLConfigErrors(t *testing.T) {
	t.Parallel()
	head := "hostname: mx.example.org\nlisteners:\n  - name: mx\n    protocol: smtp\n    address: 127.0.0.1:2525\n    filters: [dnsbl]\n"
	cases := []struct{ name, yaml, want string }{
		{"no lists", "filters:\n  dnsbl:\n    threshold: 1\n",
			"f.yaml:9: filters.dnsbl.lists: missing; list at least one blocklist, such as - zone: zen.spamhaus.org"},
		{"no block", "",
			"f.yaml:6: listeners[0].filters[0]: dnsbl needs its blocklists; add filters.dnsbl.lists, such as - zone: zen.spamhaus.org"},
		{"zone", "filters:\n  dnsbl:\n    lists:\n      - zone: \"zen spamhaus org\"\n",
			`f.yaml:10: filters.dnsbl.lists[0].zone: "zen spamhaus org" is not a DNS zone; write the blocklist's zone, such as zen.spamhaus.org`},
		{"zone missing", "filters:\n  dnsbl:\n    lists:\n      - weight: 2\n",
			`f.yaml:10: filters.dnsbl.lists[0].zone: missing; write the blocklist's DNS zone, such as zen.spamhaus.org`},
		{"weight", "filters:\n  dnsbl:\n    lists:\n      - zone: zen.spamhaus.org\n        weight: 0\n",
			"f.yaml:11: filters.dnsbl.lists[0].weight: must be more than 0; write a weight such as 1"},
		{"weight type", "filters:\n  dnsbl:\n    lists:\n      - {zone: zen.spamhaus.org, weight: heavy}\n",
			// The decoder's line, then compile's: a weight that is not a
			// number is also not more than 0.
			`f.yaml:10: filters.dnsbl.lists[0].weight: "heavy" is not a whole number` + "\n" +
				"f.yaml:10: filters.dnsbl.lists[0].weight: must be more than 0; write a weight such as 1"},
		{"type", "filters:\n  dnsbl:\n    lists:\n      - zone: dbl.spamhaus.org\n        type: rhsbl\n",
			`f.yaml:11: filters.dnsbl.lists[0].type: "rhsbl" is not a list type; write ip (the client's address) or domain (its HELO name and MAIL FROM domain)`},
		{"responses", "filters:\n  dnsbl:\n    lists:\n      - zone: zen.spamhaus.org\n        responses:\n          - 127.0.0.2-127.0.0.11\n          - 127.0.0.11-127.0.0.2\n          - ::1\n          - 127.0.0.0/33\n",
			`f.yaml:13: filters.dnsbl.lists[0].responses[1]: "127.0.0.11-127.0.0.2" is not an IPv4 address, CIDR or range; write one such as 127.0.0.2, 127.0.0.0/24 or 127.0.0.2-127.0.0.11` + "\n" +
				`f.yaml:14: filters.dnsbl.lists[0].responses[2]: "::1" is not an IPv4 address, CIDR or range; write one such as 127.0.0.2, 127.0.0.0/24 or 127.0.0.2-127.0.0.11` + "\n" +
				`f.yaml:15: filters.dnsbl.lists[0].responses[3]: "127.0.0.0/33" is not an IPv4 address, CIDR or range; write one such as 127.0.0.2, 127.0.0.0/24 or 127.0.0.2-127.0.0.11`},
		{"twice", "filters:\n  dnsbl:\n    lists:\n      - zone: zen.spamhaus.org\n      - zone: ZEN.spamhaus.org.\n        type: ip\n",
			"f.yaml:11: filters.dnsbl.lists[1].zone: zen.spamhaus.org is listed twice; list each blocklist once"},
		{"threshold", "filters:\n  dnsbl:\n    lists: [{zone: zen.spamhaus.org}]\n    threshold: 0\n",
			"f.yaml:10: filters.dnsbl.threshold: 0 is not more than 0; write a total weight such as 1"},
		{"threshold unreachable", "filters:\n  dnsbl:\n    lists: [{zone: a.example, weight: 2}, {zone: b.example}]\n    threshold: 4\n",
			"f.yaml:10: filters.dnsbl.threshold: 4 is more than the weights of all lists add up to (3), so no client could be listed; write 3 or less"},
		{"skip", "filters:\n  dnsbl:\n    lists: [{zone: zen.spamhaus.org}]\n    skip: [10.0.0.0/8, 10.0.0.0/40, office]\n",
			`f.yaml:10: filters.dnsbl.skip[1]: "10.0.0.0/40" is not a network; write a CIDR such as 10.0.0.0/8 or an address such as 192.0.2.25` + "\n" +
				`f.yaml:10: filters.dnsbl.skip[2]: "office" is not a network; write a CIDR such as 10.0.0.0/8 or an address such as 192.0.2.25`},
		{"timeout", "filters:\n  dnsbl:\n    lists: [{zone: zen.spamhaus.org}]\n    timeout: 0s\n",
			"f.yaml:10: filters.dnsbl.timeout: must be more than 0; write a duration such as 20s"},
		{"unknown key", "filters:\n  dnsbl:\n    lists: [{zone: zen.spamhaus.org, weigth: 2}]\n",
			"f.yaml:9: filters.dnsbl.lists[0].weigth: unknown key; valid keys here are: responses, type, weight, zone"},
		{"actions", "filters:\n  dnsbl:\n    lists: [{zone: zen.spamhaus.org}]\n    actions: {blocked: reject}\n",
			`f.yaml:10: filters.dnsbl.actions.blocked: "blocked" is not a result of the dnsbl filter; write one of clean, listed, suspect, temperror`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := config.Parse("f.yaml", []byte(head+tc.yaml), Builtin())
			if err == nil || err.Error() != tc.want {
				t.Errorf("got\n%v\nwant\n%s", err, tc.want)
			}
		})
	}
	// Neither written nor run: nothing to check. Written but not run: checked.
	base := "hostname: mx.example.org\n"
	if _, err := config.Parse("f.yaml", []byte(base), Builtin()); err != nil {
		t.Errorf("no dnsbl at all: %v", err)
	}
	if _, err := config.Parse("f.yaml", []byte(base+"filters:\n  dnsbl: {threshold: 1}\n"), Builtin()); err == nil {
		t.Errorf("a written block without lists passed")
	}
	c, err := config.Parse("f.yaml", []byte(head+"filters:\n  dnsbl:\n    lists:\n      - {zone: zen.spamhaus.org, weight: 2, responses: [127.0.0.2-127.0.0.11]}\n      - {zone: dbl.spamhaus.org, type: domain}\n    threshold: 2\n    skip: [10.0.0.0/8]\n    timeout: 5s\n    actions: {listed: reject, suspect: tag, temperror: accept}\n"), Builtin())
	if err != nil {
		t.Fatalf("the README's block: %v", err)
	}
	if s := c.Filters.Settings("dnsbl").(*DNSBLConfig); len(s.Lists) != 2 || *s.Lists[0].Weight != 2 || s.Lists[1].Weight != nil {
		t.Errorf("settings %+v", s)
	}
}
