package main

import (
	"context"
	"net"
	"path/filepath"

	"mailgate/certs"
	"mailgate/config"
)

// useACME makes the certificate manager obtain its certificates from
// tls.acme's CA; the self-signed certificate serves until they are
// issued. Nothing is asked of the CA before startACME.
func (a *app) useACME() error {
	c := a.cfg.TLS.ACME
	names := c.NamesFor(a.cfg.Hostname)
	err := a.certs.UseACME(certs.ACMEOptions{
		Hostname: a.cfg.Hostname, Names: names, Email: c.Email, Directory: c.DirectoryURL(), CAFile: c.CAFile,
		CacheDir: filepath.Join(a.cfg.DataDir, "acme"), HTTP01: c.ChallengeType() == config.ChallengeHTTP,
		AcceptTOS: c.AcceptTOS, Logger: a.log, Registerer: a.reg,
	})
	if err != nil {
		return err
	}
	a.log.Info("acme: certificates come from the CA; the self-signed one serves until they are held",
		"directory", c.DirectoryURL(), "names", names, "challenge", c.ChallengeType())
	if port, ok := a.challengePortBound(c.ChallengeType()); !ok {
		a.log.Warn("acme: the CA checks the challenge on a port no listener that answers it is bound to; "+
			"unless that port is forwarded to one, no certificate will be issued", "challenge", c.ChallengeType(), "port", port)
	}
	return nil
}

// challengePortBound reports whether a listener that answers challenge
// is bound to the port the CA connects to: 443 for tls-alpn-01 (a
// listener with TLS from the first byte), 80 for http-01 (the http
// listener). config refuses a config with no such listener at all; a
// port forward (NAT, a container) may make another port right, hence a
// warning only.
func (a *app) challengePortBound(challenge string) (string, bool) {
	if challenge == config.ChallengeHTTP {
		l, ok := a.listenerOf(config.ProtoHTTP)
		return "80", ok && portOf(l.Address) == "80"
	}
	for _, l := range a.cfg.Listeners {
		if config.ImplicitTLS(l.Protocol) && portOf(l.Address) == "443" {
			return "443", true
		}
	}
	return "443", false
}

// portOf is the port of a host:port address ("" if it has none).
func portOf(addr string) string {
	_, port, _ := net.SplitHostPort(addr)
	return port
}

// startACME starts obtaining the certificates, now that the listeners
// that answer the CA's challenges are bound.
func (a *app) startACME(bool) error {
	a.certs.StartACME()
	a.stops = append(a.stops, func(context.Context) { a.certs.StopACME() })
	return nil
}
