package delivery

import (
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"os"

	"github.com/prometheus/client_golang/prometheus"

	"mailgate/config"
	"mailgate/resolver"
)

// New builds the transports the config describes: a Router over Local
// and either a Smarthost (delivery.smarthost.host set) or a Remote. The
// caller closes the Router at shutdown.
func New(cfg *config.Config, res resolver.Resolver, mb Mailboxes, dir Directory, classify func(error) *Error,
	logger *slog.Logger, reg prometheus.Registerer) (*Router, error) {
	d := cfg.Delivery
	m := NewMetrics(reg)
	helo := d.HeloName
	if helo == "" {
		helo = cfg.Hostname
	}
	t := d.Timeouts
	timeouts := Timeouts{Connect: t.Connect.D(), Greeting: t.Greeting.D(), Mail: t.Mail.D(), Rcpt: t.Rcpt.D(),
		DataInit: t.DataInit.D(), DataBlock: t.DataBlock.D(), DataEnd: t.DataEnd.D()}
	r := &Router{
		LocalDomains: cfg.LocalDomains,
		MaxReceived:  cfg.Limits.MaxReceivedHeaders,
		Metrics:      m,
		Local:        &Local{Mailboxes: mb, Directory: dir, Classify: classify, Logger: logger, Metrics: m},
	}
	if sh := d.Smarthost; sh.Host != "" {
		h := &Smarthost{Host: sh.Host, Port: sh.Port, TLS: sh.TLS, Username: sh.Username, Resolver: res,
			Hostname: helo, Timeouts: timeouts, Dialer: &net.Dialer{}, IdleTimeout: d.IdleTimeout.D(),
			MaxIdlePerHost: d.MaxIdlePerHost, Logger: logger, Metrics: m}
		if sh.PasswordFile != "" {
			pw, err := ReadPassword(sh.PasswordFile)
			if err != nil {
				return nil, fmt.Errorf("delivery.smarthost.password_file: %w", err)
			}
			h.Password = pw
		}
		if sh.CAFile != "" {
			pool, err := caPool(sh.CAFile)
			if err != nil {
				return nil, err
			}
			h.RootCAs = pool
		}
		r.Remote = h
		return r, nil
	}
	r.Remote = &Remote{Resolver: res, Hostname: helo, Port: d.Port, RequireTLS: d.RequireTLS, Timeouts: timeouts,
		IdleTimeout: d.IdleTimeout.D(), MaxIdlePerHost: d.MaxIdlePerHost, Logger: logger, Metrics: m}
	return r, nil
}

// caPool is the system's roots plus the certificates in file.
func caPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("delivery.smarthost.ca_file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("delivery.smarthost.ca_file: %s holds no PEM certificate", file)
	}
	return pool, nil
}
