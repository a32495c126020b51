package config

// Delivery configures how mail leaves for other servers.
type Delivery struct {
	// DNS is the resolver used for MX lookups, as host:port. Empty means the
	// system resolver (/etc/resolv.conf).
	DNS string `yaml:"dns"`
	// Port is the remote SMTP port; only tests change it from 25.
	Port int `yaml:"port"`
}

func defaultDelivery() Delivery { return Delivery{Port: 25} }

func (d *Delivery) validate(v *Validator) {
	if d.Port < 1 || d.Port > 65535 {
		v.Errorf("delivery.port", "port %d is out of range; write a port from 1 to 65535", d.Port)
	}
}
