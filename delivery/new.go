package delivery

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"mailgate/config"
	"mailgate/dane"
	"mailgate/internal/mailmsg"
	"mailgate/mtasts"
	"mailgate/resolver"
)

// New builds the transports the config describes: a Router over Local
// (or LMTP, when delivery.local.lmtp is set) and either a Smarthost (delivery.smarthost.host set) or a Remote. The
// caller closes the Router at shutdown.
func New(cfg *config.Config, res resolver.Resolver, mb Mailboxes, dir Directory, classify func(error) *mailmsg.Error,
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
	if addr := d.Local.LMTP; addr != "" {
		r.Local = &LMTP{Addr: addr, Hostname: helo, Timeouts: timeouts, IdleTimeout: d.IdleTimeout.D(),
			MaxIdle: d.MaxIdlePerHost, Logger: logger, Metrics: m}
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
	rem := &Remote{Resolver: res, Hostname: helo, Port: d.Port, RequireTLS: d.RequireTLS, Timeouts: timeouts,
		IdleTimeout: d.IdleTimeout.D(), MaxIdlePerHost: d.MaxIdlePerHost, Logger: logger, Metrics: m}
	if err := rem.configurePolicies(cfg, res); err != nil {
		return nil, err
	}
	r.Remote = rem
	return r, nil
}

// SetTLSReporter sends the TLS outcomes of remote delivery to rep (the
// TLS-RPT recorder, built after the router).
func (r *Router) SetTLSReporter(rep TLSReporter) {
	if rem, ok := r.Remote.(*Remote); ok {
		rem.Policies.Report = rep
	}
}

// configurePolicies sets up MTA-STS and DANE from the config.
func (r *Remote) configurePolicies(cfg *config.Config, res resolver.Resolver) error {
	d := cfg.Delivery
	if d.MTASTS.CAFile != "" {
		pool, err := caPoolFor("delivery.mta_sts.ca_file", d.MTASTS.CAFile)
		if err != nil {
			return err
		}
		r.RootCAs = pool
	}
	if d.MTASTS.Enabled && res != nil {
		r.Policies.STS = &mtasts.Fetcher{
			LookupTXT: res.LookupTXT,
			Dial:      resolvingDial(res),
			RootCAs:   r.RootCAs,
			Port:      d.MTASTS.Port,
			Cache:     &mtasts.Cache{Dir: filepath.Join(cfg.DataDir, "mta-sts")},
		}
	}
	if d.DANE.Resolver != "" {
		r.Policies.DANE = &dane.Resolver{Server: d.DANE.Resolver, Timeout: 10 * time.Second}
	}
	return nil
}

// resolvingDial dials host:port after resolving host with the configured
// resolver, so policy hosts are found the way MX hosts are.
func resolvingDial(res resolver.Resolver) func(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &net.Dialer{Timeout: 30 * time.Second}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		ips, err := res.LookupIPAddr(ctx, host)
		if err != nil {
			return nil, err
		}
		var last error = fmt.Errorf("%s has no address", host)
		for _, ip := range ips {
			c, err := d.DialContext(ctx, network, net.JoinHostPort(ip.IP.String(), port))
			if err == nil {
				return c, nil
			}
			last = err
		}
		return nil, last
	}
}

// caPool is the system's roots plus the certificates in file.
func caPool(file string) (*x509.CertPool, error) {
	return caPoolFor("delivery.smarthost.ca_file", file)
}

// caPoolFor is caPool, naming key in its errors.
func caPoolFor(key, file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: %s holds no PEM certificate", key, file)
	}
	return pool, nil
}
