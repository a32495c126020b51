package delivery

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-sasl"

	"mailgate/config"
	"mailgate/internal/mailmsg"
	"mailgate/resolver"
)

// Smarthost sends all remote mail through one upstream relay, logging in
// with AUTH PLAIN, for installations that may not send from their own IP.
type Smarthost struct {
	Host string
	Port int
	// TLS is config.SmarthostSTARTTLS (required, verified),
	// config.SmarthostImplicit or config.SmarthostNoTLS.
	TLS                string
	Username, Password string
	RootCAs            *x509.CertPool // nil: the system's roots
	// Resolver finds Host's addresses when it is a name.
	Resolver       resolver.Resolver
	Hostname       string // sent in EHLO
	Timeouts       Timeouts
	Dialer         Dialer // nil: a net.Dialer
	IdleTimeout    time.Duration
	MaxIdlePerHost int
	Logger         *slog.Logger
	Metrics        *Metrics

	once sync.Once
	c    *client
}

var _ Transport = (*Smarthost)(nil)

// ReadPassword reads a password file, ignoring a final line break.
func ReadPassword(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

func (h *Smarthost) client() *client {
	h.once.Do(func() {
		h.c = newClient(RouteSmarthost, h.Hostname, h.Timeouts, h.Dialer, h.RootCAs, h.MaxIdlePerHost, h.IdleTimeout, h.Metrics)
		h.c.ready = h.auth
	})
	return h.c
}

// Close ends the idle connections.
func (h *Smarthost) Close() { h.client().pool.close() }

// Deliver hands req to the relay.
func (h *Smarthost) Deliver(ctx context.Context, req *mailmsg.Attempt) []mailmsg.Result {
	if len(req.Recipients) == 0 {
		return nil
	}
	res, tls := h.deliver(ctx, req)
	logResults(orDiscard(h.Logger), h.Metrics, RouteSmarthost, h.Host, tls, req, res)
	return res
}

func (h *Smarthost) deliver(ctx context.Context, req *mailmsg.Attempt) ([]mailmsg.Result, string) {
	c := h.client()
	addrs, err := h.addresses(ctx)
	if err != nil {
		return mailmsg.AllFail(req, err), ""
	}
	mode := tlsVerified
	switch h.TLS {
	case config.SmarthostImplicit:
		mode = tlsImplicit
	case config.SmarthostNoTLS:
		mode = tlsNone
	}
	var last error
	for _, a := range addrs {
		res, snt, err := c.send(ctx, target{addr: net.JoinHostPort(a, strconv.Itoa(h.port())), mta: h.Host, mode: mode}, req)
		if err == nil {
			return res, snt.tls
		}
		last = err
	}
	return mailmsg.AllFail(req, last), ""
}

func (h *Smarthost) port() int {
	c := config.DeliverySmarthost{Port: h.Port, TLS: h.TLS}
	return c.SmarthostPort()
}

func (h *Smarthost) addresses(ctx context.Context) ([]string, error) {
	if ip := net.ParseIP(h.Host); ip != nil {
		return []string{h.Host}, nil
	}
	if h.Resolver == nil {
		return nil, tempErr(mailmsg.CmdDNS, h.Host, "4.4.3", "no resolver to look up the smarthost", nil)
	}
	ips, err := h.Resolver.LookupIPAddr(ctx, h.Host)
	if err != nil || len(ips) == 0 {
		if err == nil {
			err = fmt.Errorf("no addresses")
		}
		return nil, dnsErr("address", h.Host, err)
	}
	out := make([]string, len(ips))
	for i, ip := range ips {
		out[i] = ip.IP.String()
	}
	return out, nil
}

// auth logs in on a new session. A refused login is a problem of our
// configuration, not of the message, so it defers rather than bounces.
func (h *Smarthost) auth(s *session) error {
	if h.Username == "" {
		return nil
	}
	if !s.c.SupportsAuth("PLAIN") {
		return tempErr(mailmsg.CmdAuth, h.Host, "4.7.0", "the smarthost does not offer AUTH PLAIN", nil)
	}
	s.c.CommandTimeout = h.client().dialer.timeouts.Mail
	if err := s.c.Auth(sasl.NewPlainClient("", h.Username, h.Password)); err != nil {
		e := remoteErr(mailmsg.CmdAuth, h.Host, err)
		e.Permanent = false
		if e.Reason == "" {
			e.Reason = "the smarthost refused our login; check delivery.smarthost.username and password_file"
		}
		return e
	}
	return nil
}
