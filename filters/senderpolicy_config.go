package filters

import "mailgate/config"

// SenderPolicyConfig is the sender_policy block: what a logged-in account
// may send as.
type SenderPolicyConfig struct {
	Actions Actions `yaml:"actions"`
	// Fixups adds Message-ID and Date when missing (RFC 6409 section 8).
	Fixups bool `yaml:"fixups"`
}

var senderPolicyResults = map[string]string{"pass": ActionAccept, "none": ActionAccept, "forbidden": ActionReject}

func defaultSenderPolicyConfig() *SenderPolicyConfig { return &SenderPolicyConfig{Fixups: true} }

// ActionMap returns the block's actions: key.
func (c *SenderPolicyConfig) ActionMap() Actions { return c.Actions }

func (c *SenderPolicyConfig) check(b *config.FilterBlock) {}
