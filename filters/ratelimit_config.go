package filters

import "mailgate/config"

// RateLimitConfig is the ratelimit block. Token buckets: per account and
// recipient domain for clients that logged in, per client IP and sender
// domain for those that did not; connections per IP count only
// connections that do not log in.
type RateLimitConfig struct {
	Actions         Actions   `yaml:"actions"`
	PerAccount      Limit     `yaml:"per_account"`
	PerIP           Limit     `yaml:"per_ip"`
	PerSenderDomain Limit     `yaml:"per_sender_domain"`
	PerRcptDomain   Limit     `yaml:"per_recipient_domain"`
	Connections     ConnLimit `yaml:"connections_per_ip"`
	// Accounts replace PerAccount for the named accounts (an application
	// may get a larger budget); a missing period is PerAccount's.
	Accounts map[string]Limit `yaml:"accounts"`
	// MaxBuckets bounds memory: idle buckets are evicted first.
	MaxBuckets int `yaml:"max_buckets"`
}

// Limit is a token bucket: Messages and Recipients per Period (0: no limit).
type Limit struct {
	Messages   int             `yaml:"messages"`
	Recipients int             `yaml:"recipients"`
	Period     config.Duration `yaml:"period"`
}

// ConnLimit caps new connections per client IP (IPv6 per /64) per Period.
type ConnLimit struct {
	Count  int             `yaml:"count"`
	Period config.Duration `yaml:"period"`
}

var rateLimitResults = map[string]string{"pass": ActionAccept, "over": ActionTempfail, "flood": ActionTempfail}

func defaultRateLimitConfig() *RateLimitConfig {
	return &RateLimitConfig{
		// Logged-in clients: an application may send 100 messages a
		// second, to one domain as to many.
		PerAccount:    Limit{Messages: 6000, Recipients: 30000, Period: config.Duration(60e9)},
		PerRcptDomain: Limit{Messages: 6000, Recipients: 30000, Period: config.Duration(60e9)},
		// Clients that do not log in (MX): tight.
		PerIP:           Limit{Messages: 500, Recipients: 2500, Period: config.Duration(3600e9)},
		PerSenderDomain: Limit{Messages: 2000, Recipients: 10000, Period: config.Duration(3600e9)},
		Connections:     ConnLimit{Count: 60, Period: config.Duration(60e9)},
		MaxBuckets:      100000,
	}
}

// RateLimitSettings returns cfg's ratelimit block, for the bucket store
// that every listener's chain shares (NewRateLimits).
func RateLimitSettings(cfg *config.Config) RateLimitConfig {
	if c, ok := cfg.Filters.Settings("ratelimit").(*RateLimitConfig); ok {
		return *c
	}
	return *defaultRateLimitConfig()
}

// ActionMap returns the block's actions: key.
func (c *RateLimitConfig) ActionMap() Actions { return c.Actions }

func (c *RateLimitConfig) check(b *config.FilterBlock) {
	c.PerAccount.check(b, "per_account")
	c.PerIP.check(b, "per_ip")
	c.PerSenderDomain.check(b, "per_sender_domain")
	c.PerRcptDomain.check(b, "per_recipient_domain")
	for name, l := range c.Accounts {
		if l.Period == 0 {
			l.Period = c.PerAccount.Period // an override without period keeps per_account's
		}
		l.check(b, "accounts."+name)
	}
	if c.Connections.Count < 0 {
		b.Errorf("connections_per_ip.count", "%d is negative; write 0 for no limit or a number such as 60", c.Connections.Count)
	}
	if c.Connections.Count > 0 && c.Connections.Period.D() <= 0 {
		b.Errorf("connections_per_ip.period", "must be more than 0; write a duration such as 1m")
	}
	if c.MaxBuckets < 100 {
		b.Errorf("max_buckets", "%d is too small to be useful; write 100 or more, such as 100000", c.MaxBuckets)
	}
}

func (l Limit) check(b *config.FilterBlock, key string) {
	if l.Messages < 0 {
		b.Errorf(key+".messages", "%d is negative; write 0 for no limit or a number such as 1000", l.Messages)
	}
	if l.Recipients < 0 {
		b.Errorf(key+".recipients", "%d is negative; write 0 for no limit or a number such as 5000", l.Recipients)
	}
	if (l.Messages > 0 || l.Recipients > 0) && l.Period.D() <= 0 {
		b.Errorf(key+".period", "must be more than 0; write a duration such as 1h")
	}
}
