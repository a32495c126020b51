package config_test

import (
	"strings"
	"testing"

	"mailgate/config"
	"mailgate/filters"
)

// TestClusterProblems: each wrong cluster, PROXY or LDAP key gets its
// file:line and what to write instead.
func TestClusterProblems(t *testing.T) {
	t.Parallel()
	const mx = "listeners:\n  - name: mx\n    protocol: smtp\n    address: 127.0.0.1:25\n"
	tests := []struct{ name, yaml, want string }{
		{"proxy without trusted", mx + "    proxy_protocol: true\n",
			`f.yaml:2: listeners[0].trusted_proxies: missing; write the load balancers' addresses as CIDRs, such as [10.0.0.5/32]`},
		{"trusted without proxy", mx + "    trusted_proxies: [10.0.0.5/32]\n",
			`f.yaml:5: listeners[0].trusted_proxies: used only with proxy_protocol: true; add it or remove this key`},
		{"bad CIDR", mx + "    proxy_protocol: true\n    trusted_proxies: [10.0.0.5]\n",
			`f.yaml:6: listeners[0].trusted_proxies[0]: "10.0.0.5" is not a CIDR; write an address with its prefix length, such as 10.0.0.5/32`},
		{"redis address", "cluster:\n  redis:\n    address: localhost\n",
			`f.yaml:3: cluster.redis.address: "localhost" is not host:port; write the Redis server's address, such as 127.0.0.1:6379`},
		{"ldap url", "auth:\n  ldap:\n    url: http://x\n    base_dn: dc=x\n",
			`f.yaml:3: auth.ldap.url: "http://x" is not an LDAP URL; write ldap://host:389 or ldaps://host:636`},
		{"ldap filter", "auth:\n  ldap:\n    url: ldap://127.0.0.1:389\n    base_dn: dc=x\n    filter: mail=x\n",
			`f.yaml:5: auth.ldap.filter: "mail=x" must be an LDAP filter with %s where the address goes, such as (|(mail=%s)(mailLocalAddress=%s))`},
		{"finished records too small", "queue:\n  finished_max_size: 10KB\n",
			`f.yaml:2: queue.finished_max_size: must be at least 1MB; write a size such as 1GB`},
		{"negative retention", "queue:\n  finished_retention: -1h\n",
			`f.yaml:2: queue.finished_retention: "-1h" is negative; write a duration of zero or more`},
		{"ldaps with starttls", "auth:\n  ldap:\n    url: ldaps://127.0.0.1:636\n    starttls: true\n    base_dn: dc=x\n",
			`f.yaml:4: auth.ldap.starttls: ldaps:// is already TLS; remove starttls or write an ldap:// URL`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := config.Parse("f.yaml", []byte(tc.yaml), filters.Builtin())
			if err == nil || err.Error() != tc.want {
				t.Errorf("problems:\n got: %v\nwant: %s", err, tc.want)
			}
		})
	}
}

// TestClusterDefaults: a Redis block gets its defaults; without one, and
// without auth.ldap, nothing changes.
func TestClusterDefaults(t *testing.T) {
	t.Parallel()
	c, err := config.Parse("f.yaml", []byte("cluster:\n  redis:\n    address: 127.0.0.1:6379\nauth:\n  ldap:\n    url: ldap://127.0.0.1:389\n    base_dn: dc=x\n"), filters.Builtin())
	if err != nil {
		t.Fatal(err)
	}
	r := c.Cluster.Redis
	if r.KeyPrefix != "mailgate:" || r.Timeout.D().String() != "300ms" || r.LockoutGrace.D().String() != "1m0s" {
		t.Errorf("redis defaults: %+v", r)
	}
	if l := c.Auth.LDAP; l.Filter != "(mail=%s)" || l.AddressAttribute != "mail" || !strings.HasPrefix(l.CacheFor.D().String(), "1m") {
		t.Errorf("ldap defaults: %+v", l)
	}
	if d := config.Default(filters.Builtin()); d.Cluster.Redis != nil || d.Auth.LDAP != nil {
		t.Error("the embedded default shares state or reads LDAP")
	}
}
