package filters

import "mailgate/config"

// SPFConfig is the spf block: the client IP checked against the MAIL FROM
// (or HELO) domain's SPF record (RFC 7208).
type SPFConfig struct {
	Actions Actions         `yaml:"actions"`
	Timeout config.Duration `yaml:"timeout"` // for all DNS lookups of one check
}

var spfResults = map[string]string{"pass": ActionAccept, "fail": ActionReject, "softfail": ActionTag,
	"neutral": ActionTag, "none": ActionAccept, "temperror": ActionTempfail, "permerror": ActionTag}

func defaultSPFConfig() *SPFConfig { return &SPFConfig{Timeout: config.Duration(20e9)} }

// ActionMap returns the block's actions: key.
func (c *SPFConfig) ActionMap() Actions { return c.Actions }

func (c *SPFConfig) check(b *config.FilterBlock) { positiveDuration(b, "timeout", c.Timeout) }

// positiveDuration reports a timeout of 0 or less.
func positiveDuration(b *config.FilterBlock, key string, d config.Duration) {
	if d.D() <= 0 {
		b.Errorf(key, "must be more than 0; write a duration such as 20s")
	}
}
