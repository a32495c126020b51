package config

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// Cluster is what several mailgate nodes behind one load balancer share.
// Without Redis every limit and lockout is kept in the process, as on one
// machine.
type Cluster struct {
	Redis *Redis `yaml:"redis"`
}

// Redis is the shared store (Redis or Valkey) for rate limits and login
// lockouts.
type Redis struct {
	// Address is host:port of the server.
	Address string `yaml:"address"`
	// PasswordFile holds the password (AUTH); empty for none.
	PasswordFile string `yaml:"password_file"`
	// Username goes with the password for a Redis 6 ACL user.
	Username string `yaml:"username"`
	// TLS connects with TLS (the server's certificate must be trusted by
	// the system).
	TLS bool `yaml:"tls"`
	// KeyPrefix starts every key mailgate writes, so that one Redis can
	// serve several clusters.
	KeyPrefix string `yaml:"key_prefix"`
	// Timeout bounds one round trip; past it the feature's failure policy
	// applies (rate limits: per-node buckets; lockout: see LockoutGrace).
	Timeout Duration `yaml:"timeout"`
	// LockoutGrace is how long logins go on, checked against this node's
	// own lockout records, while Redis cannot be reached; past it every
	// login is refused until Redis answers again.
	LockoutGrace Duration `yaml:"lockout_grace"`
}

func defaultRedis() Redis {
	return Redis{KeyPrefix: "mailgate:", Timeout: Duration(300e6), LockoutGrace: Duration(60e9)}
}

func (c *Cluster) validate(v *Validator) {
	r := c.Redis
	if r == nil {
		return
	}
	def := defaultRedis()
	if r.KeyPrefix == "" && !v.Set("cluster.redis.key_prefix") {
		r.KeyPrefix = def.KeyPrefix
	}
	if r.Timeout == 0 {
		r.Timeout = def.Timeout
	}
	if r.LockoutGrace == 0 {
		r.LockoutGrace = def.LockoutGrace
	}
	if _, _, err := net.SplitHostPort(r.Address); err != nil {
		v.Errorf("cluster.redis.address", "%q is not host:port; write the Redis server's address, such as 127.0.0.1:6379", r.Address)
	}
	checkFile(v, "cluster.redis.password_file", r.PasswordFile, "password")
	if r.Timeout < 0 {
		v.Errorf("cluster.redis.timeout", "must be positive; write a duration such as 300ms")
	}
	if r.LockoutGrace < 0 {
		v.Errorf("cluster.redis.lockout_grace", "must be positive; write a duration such as 1m")
	}
}

// LDAP reads accounts from a directory: a user logs in by binding as
// the entry that Filter finds under BaseDN.
type LDAP struct {
	// URL is ldap://host:port or ldaps://host:port.
	URL string `yaml:"url"`
	// StartTLS upgrades an ldap:// connection before any bind.
	StartTLS bool `yaml:"starttls"`
	// CAFile holds the PEM certificates that sign the directory's
	// certificate (an organisation's own CA); empty: the system's roots.
	CAFile string `yaml:"ca_file"`
	// InsecureSkipVerify accepts any server certificate (tests only).
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
	// BindDN and BindPasswordFile are the service account that searches;
	// empty for an anonymous search.
	BindDN           string `yaml:"bind_dn"`
	BindPasswordFile string `yaml:"bind_password_file"`
	BaseDN           string `yaml:"base_dn"`
	// Filter finds the entry of an address (a login name or a recipient);
	// every %s becomes the address (escaped). To find aliases too, match
	// them as well: (|(mail=%s)(mailLocalAddress=%s)).
	Filter string `yaml:"filter"`
	// Attribute names: the account's address, its aliases (more local
	// addresses it receives), its send-as addresses, its quota in bytes.
	AddressAttribute string `yaml:"address_attribute"`
	AliasAttribute   string `yaml:"alias_attribute"`
	SendAsAttribute  string `yaml:"send_as_attribute"`
	QuotaAttribute   string `yaml:"quota_attribute"`
	// CacheFor keeps a looked-up entry this long.
	CacheFor Duration `yaml:"cache_for"`
	// Timeout bounds one connection and one request.
	Timeout Duration `yaml:"timeout"`
}

func (l *LDAP) validate(v *Validator) {
	if l.Filter == "" {
		l.Filter = "(mail=%s)"
	}
	if l.AddressAttribute == "" {
		l.AddressAttribute = "mail"
	}
	if l.CacheFor == 0 {
		l.CacheFor = Duration(60e9)
	}
	if l.Timeout == 0 {
		l.Timeout = Duration(5e9)
	}
	u, err := url.Parse(l.URL)
	if err != nil || (u.Scheme != "ldap" && u.Scheme != "ldaps") || u.Host == "" {
		v.Errorf("auth.ldap.url", "%q is not an LDAP URL; write ldap://host:389 or ldaps://host:636", l.URL)
	} else if l.StartTLS && u.Scheme == "ldaps" {
		v.Errorf("auth.ldap.starttls", "ldaps:// is already TLS; remove starttls or write an ldap:// URL")
	}
	if l.BaseDN == "" {
		v.Errorf("auth.ldap.base_dn", "missing; write where the users are, such as ou=people,dc=example,dc=com")
	}
	if !strings.Contains(l.Filter, "%s") || !strings.HasPrefix(l.Filter, "(") {
		v.Errorf("auth.ldap.filter", "%q must be an LDAP filter with %%s where the address goes, such as (|(mail=%%s)(mailLocalAddress=%%s))", l.Filter)
	}
	if (l.BindDN == "") != (l.BindPasswordFile == "") {
		v.Errorf("auth.ldap", "bind_dn and bind_password_file go together; give both, or neither for an anonymous search")
	}
	checkFile(v, "auth.ldap.bind_password_file", l.BindPasswordFile, "password")
	checkFile(v, "auth.ldap.ca_file", l.CAFile, "CA certificate")
}

// validateProxy checks a listener's PROXY protocol keys.
func (l *Listener) validateProxy(v *Validator, p string) {
	if !l.ProxyProtocol {
		if len(l.TrustedProxies) > 0 {
			v.Errorf(p+".trusted_proxies", "used only with proxy_protocol: true; add it or remove this key")
		}
		return
	}
	if len(l.TrustedProxies) == 0 {
		v.Errorf(p+".trusted_proxies", "missing; write the load balancers' addresses as CIDRs, such as [10.0.0.5/32]")
	}
	for i, c := range l.TrustedProxies {
		if _, _, err := net.ParseCIDR(c); err != nil {
			v.Errorf(fmt.Sprintf("%s.trusted_proxies[%d]", p, i), "%q is not a CIDR; write an address with its prefix length, such as 10.0.0.5/32", c)
		}
	}
}
