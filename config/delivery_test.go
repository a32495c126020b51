package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDeliveryDefaults(t *testing.T) {
	t.Parallel()
	d := Default(openFilters{}).Delivery
	if d.Port != 25 || d.Timeouts.DataEnd.D() != 10*time.Minute || d.Timeouts.DataInit.D() != 2*time.Minute ||
		d.Smarthost.Host != "" || d.Smarthost.TLS != SmarthostSTARTTLS || d.IdleTimeout.D() != 30*time.Second {
		t.Errorf("defaults = %+v", d)
	}
}

func TestDeliverySmarthost(t *testing.T) {
	t.Parallel()
	pw := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pw, []byte("x\n"), 0o600)
	c, err := Parse("t.yaml", []byte("delivery:\n  require_tls: [bank.example]\n  timeouts:\n    connect: 5s\n  smarthost:\n    host: smtp.relay.example\n    tls: implicit\n    username: app\n    password_file: "+pw+"\n"), openFilters{})
	if err != nil {
		t.Fatal(err)
	}
	s := c.Delivery.Smarthost
	if s.SmarthostPort() != 465 || s.Username != "app" || c.Delivery.Timeouts.Connect.D() != 5*time.Second || c.Delivery.RequireTLS[0] != "bank.example" {
		t.Errorf("parsed %+v", c.Delivery)
	}
}

func TestDeliveryErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ yaml, want string }{
		{"delivery:\n  port: 0\n", "t.yaml:2: delivery.port: port 0 is out of range; write a port from 1 to 65535"},
		{"delivery:\n  dns: 127.0.0.1\n", "t.yaml:2: delivery.dns: \"127.0.0.1\" is not host:port"},
		{"delivery:\n  require_tls: [\"not a domain\"]\n", "t.yaml:2: delivery.require_tls[0]: \"not a domain\" is not a domain"},
		{"delivery:\n  timeouts:\n    data_end: 10ms\n", "t.yaml:3: delivery.timeouts.data_end: must be at least 1s; the usual value is 10m"},
		{"delivery:\n  smarthost:\n    host: relay.example\n    tls: yes-please\n", "t.yaml:4: delivery.smarthost.tls: \"yes-please\" is not a TLS mode; write starttls, implicit or none"},
		{"delivery:\n  smarthost:\n    host: relay.example\n    username: app\n", "delivery.smarthost: username and password_file go together"},
		{"delivery:\n  smarthost:\n    host: relay.example\n    tls: none\n    username: app\n    password_file: /nonexistent/pw\n",
			"t.yaml:4: delivery.smarthost.tls: none would send the password in clear to relay.example; write starttls or implicit"},
		{"delivery:\n  smarthost:\n    host: relay.example\n    username: app\n    password_file: /nonexistent/pw\n",
			"t.yaml:5: delivery.smarthost.password_file: cannot read password file \"/nonexistent/pw\" (no such file)"},
		{"delivery:\n  smarthost:\n    username: app\n", "delivery.smarthost.host: missing"},
		{"delivery:\n  smarthost:\n    hots: x\n", "t.yaml:3: delivery.smarthost.hots: unknown key"},
	} {
		_, err := Parse("t.yaml", []byte(tc.yaml), openFilters{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.yaml, err, tc.want)
		}
	}
}
