package filters

import "mailgate/config"

// ARCVerifyConfig is the arc_verify block: the ARC chain of incoming mail
// (RFC 8617), reported as arc=pass, fail or none in
// Authentication-Results; all three are accepted by default.
type ARCVerifyConfig struct {
	Actions Actions         `yaml:"actions"`
	Timeout config.Duration `yaml:"timeout"`
}

var arcVerifyResults = map[string]string{"pass": ActionAccept, "fail": ActionAccept, "none": ActionAccept}

func defaultARCVerifyConfig() *ARCVerifyConfig {
	return &ARCVerifyConfig{Timeout: config.Duration(20e9)}
}

// ActionMap returns the block's actions: key.
func (c *ARCVerifyConfig) ActionMap() Actions { return c.Actions }

func (c *ARCVerifyConfig) check(b *config.FilterBlock) { positiveDuration(b, "timeout", c.Timeout) }
