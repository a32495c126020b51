package filters

import "mailgate/config"

// DKIMVerifyConfig is the dkim_verify block: the DKIM signatures of
// incoming messages.
type DKIMVerifyConfig struct {
	Actions Actions `yaml:"actions"`
	// MaxSignatures caps how many signatures are checked per message.
	MaxSignatures int             `yaml:"max_signatures"`
	Timeout       config.Duration `yaml:"timeout"`
}

var dkimVerifyResults = map[string]string{"pass": ActionAccept, "fail": ActionTag, "policy": ActionAccept,
	"none": ActionAccept, "temperror": ActionAccept, "permerror": ActionTag}

func defaultDKIMVerifyConfig() *DKIMVerifyConfig {
	return &DKIMVerifyConfig{MaxSignatures: 5, Timeout: config.Duration(20e9)}
}

// ActionMap returns the block's actions: key.
func (c *DKIMVerifyConfig) ActionMap() Actions { return c.Actions }

func (c *DKIMVerifyConfig) check(b *config.FilterBlock) {
	positiveDuration(b, "timeout", c.Timeout)
	if c.MaxSignatures < 1 || c.MaxSignatures > 50 {
		b.Errorf("max_signatures", "%d is out of range; write a number from 1 to 50, such as 5", c.MaxSignatures)
	}
}
