package filters

import (
	"net"
	"strings"

	"mailgate/config"
)

// MilterConfig is the milter block: each message handed to an external
// milter such as rspamd.
type MilterConfig struct {
	Actions Actions `yaml:"actions"`
	// Address is host:port, or unix:/path for a Unix socket.
	Address        string          `yaml:"address"`
	ConnectTimeout config.Duration `yaml:"connect_timeout"`
	Timeout        config.Duration `yaml:"timeout"` // per read or write
}

var milterResults = map[string]string{"accept": ActionAccept, "reject": ActionReject, "tempfail": ActionTempfail,
	"discard": ActionDiscard, "quarantine": ActionQuarantine, "error": ActionTempfail}

func defaultMilterConfig() *MilterConfig {
	return &MilterConfig{ConnectTimeout: config.Duration(5e9), Timeout: config.Duration(30e9)}
}

// ActionMap returns the block's actions: key.
func (c *MilterConfig) ActionMap() Actions { return c.Actions }

// check wants an address once a listener runs the milter or one is
// written.
func (c *MilterConfig) check(b *config.FilterBlock) {
	if len(b.Listeners()) == 0 && c.Address == "" {
		return
	}
	switch {
	case c.Address == "":
		b.Errorf("address", "missing; write the milter's host:port such as 127.0.0.1:11332, or unix:/path/to/socket")
	case strings.HasPrefix(c.Address, "unix:"):
		if strings.TrimPrefix(c.Address, "unix:") == "" {
			b.Errorf("address", "unix: needs a path; write unix:/path/to/socket")
		}
	default:
		if _, port, err := net.SplitHostPort(c.Address); err != nil || port == "" {
			b.Errorf("address", "%q is not host:port; write an address such as 127.0.0.1:11332, or unix:/path/to/socket", c.Address)
		}
	}
	positiveDuration(b, "connect_timeout", c.ConnectTimeout)
	positiveDuration(b, "timeout", c.Timeout)
}
