package config

// Mailbox configures local mail storage.
type Mailbox struct {
	// DefaultQuota is each account's storage limit (0: unlimited).
	DefaultQuota Size `yaml:"default_quota"`
}

func defaultMailbox() Mailbox { return Mailbox{DefaultQuota: 1 << 30} }

func (m *Mailbox) validate(v *Validator, c *Config) {}
