package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
)

// ACMEOptions configure certificates from an ACME CA (RFC 8555).
type ACMEOptions struct {
	// Hostname's certificate goes to every client that names no server,
	// or a name not in Names (mail clients connect by IP or other names).
	Hostname string
	// Names each get a certificate; Hostname is one of them.
	Names []string
	// Email is the account's contact; may be empty.
	Email string
	// Directory is the CA's directory URL.
	Directory string
	// CAFile adds PEM roots trusted for the CA's HTTPS to the system's.
	CAFile string
	// CacheDir keeps the account key and the certificates across
	// restarts; it is created with mode 0700.
	CacheDir string
	// HTTP01 answers http-01 challenges (HTTPHandler) instead of
	// tls-alpn-01 ones (the TLS listeners).
	HTTP01 bool
	// AcceptTOS agrees to the CA's terms of service (Register needs it).
	AcceptTOS bool
	// Retry is the first wait after a failed attempt, doubled after each
	// failure up to an hour; default 2 minutes (autocert itself refuses
	// a name for a minute after a failure).
	Retry      time.Duration
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// acmeSource holds the certificates obtained over ACME. Handshakes never
// wait for the CA: they get what is held now (or nothing, and the
// Manager's self-signed certificate), while a goroutine per name obtains
// and refreshes the certificate in the background.
type acmeSource struct {
	mgr      *autocert.Manager
	hostname string
	names    map[string]bool
	http01   bool
	http     http.Handler // the http-01 responder; nil with tls-alpn-01
	log      *slog.Logger
	metrics  *acmeMetrics
	retry    time.Duration
	// obtain gets name's certificate from autocert: its cache, else the CA.
	obtain func(name string) (*tls.Certificate, error)

	mu    sync.Mutex
	certs map[string]*tls.Certificate // by name, once obtained
	stop  context.CancelFunc
}

// Timing of the background loop.
const (
	defaultRetry = 2 * time.Minute
	maxRetry     = time.Hour
	// refreshEvery asks autocert again for a certificate it holds, to
	// pick up a renewal made by another process sharing the cache (its
	// own renewals are seen at once, as they are stored).
	refreshEvery = time.Hour
)

// UseACME makes m serve certificates from an ACME CA, keeping its own
// (self-signed) certificate for handshakes that come before the first
// one is issued. StartACME starts obtaining them.
func (m *Manager) UseACME(o ACMEOptions) error {
	if err := os.MkdirAll(o.CacheDir, 0o700); err != nil {
		return err
	}
	if err := os.Chmod(o.CacheDir, 0o700); err != nil {
		return err
	}
	client, err := acmeHTTPClient(o.CAFile)
	if err != nil {
		return err
	}
	s := &acmeSource{hostname: normalName(o.Hostname), names: map[string]bool{}, http01: o.HTTP01,
		log: o.Logger, metrics: newACMEMetrics(o.Registerer), retry: o.Retry, certs: map[string]*tls.Certificate{}}
	if s.retry <= 0 {
		s.retry = defaultRetry
	}
	for _, n := range o.Names {
		s.names[normalName(n)] = true
	}
	s.mgr = &autocert.Manager{
		Cache:      watchedCache{DirCache: autocert.DirCache(o.CacheDir), stored: s.stored},
		HostPolicy: s.policy,
		Client:     &acme.Client{DirectoryURL: o.Directory, HTTPClient: client, UserAgent: "mailgate"},
		Email:      o.Email,
	}
	if o.AcceptTOS {
		s.mgr.Prompt = autocert.AcceptTOS
	}
	if o.HTTP01 {
		// Called before any order: autocert offers http-01 only once
		// its handler exists.
		s.http = s.mgr.HTTPHandler(http.NotFoundHandler())
	}
	s.obtain = func(name string) (*tls.Certificate, error) { return s.mgr.GetCertificate(helloFor(name)) }
	m.acme = s
	return nil
}

// StartACME starts obtaining every name's certificate in the
// background, at once: SMTP peers send no server name that could ask for
// the hostname's. Call it once the listeners are bound, since the CA
// connects to them as soon as an order is placed. StopACME ends it.
func (m *Manager) StartACME() {
	if m.acme == nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	m.acme.mu.Lock()
	m.acme.stop = cancel
	m.acme.mu.Unlock()
	for name := range m.acme.names {
		go m.acme.keep(ctx, name)
	}
}

// StopACME ends the background work; a request to the CA under way is
// abandoned when the process exits.
func (m *Manager) StopACME() {
	if m.acme == nil {
		return
	}
	m.acme.mu.Lock()
	defer m.acme.mu.Unlock()
	if m.acme.stop != nil {
		m.acme.stop()
	}
}

// HTTPHandler answers ACME http-01 challenges under
// /.well-known/acme-challenge/ (the http listener serves it on port 80);
// nil unless http-01 is the challenge.
func (m *Manager) HTTPHandler() http.Handler {
	if m.acme == nil || m.acme.http == nil {
		return nil
	}
	s := m.acme
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		s.http.ServeHTTP(sw, r)
		if sw.status == 0 || sw.status == http.StatusOK {
			// Only answers: anyone can ask for a token that is not there.
			s.log.Info("acme: answered an http-01 challenge", "host", r.Host, "client", r.RemoteAddr)
		}
	})
}

// statusWriter remembers the status a handler set (0: none, so 200).
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// keep obtains name's certificate, retrying with backoff (doubling up
// to maxRetry) after a failure, and asks again every refreshEvery once it
// has one, until ctx ends.
func (s *acmeSource) keep(ctx context.Context, name string) {
	wait := s.retry
	for {
		next := refreshEvery
		if s.attempt(name, wait) {
			wait = s.retry
		} else {
			next, wait = wait, min(2*wait, maxRetry)
		}
		if !sleep(ctx, next) {
			return
		}
	}
}

// attempt asks autocert for name's certificate once (its cache, else the
// CA), holds it, or logs and counts the failure; retry is the wait
// before the next attempt, for the log.
func (s *acmeSource) attempt(name string, retry time.Duration) bool {
	cert, err := s.obtain(name)
	if err != nil {
		s.metrics.orders.WithLabelValues("failed").Inc()
		s.log.Warn("acme: certificate not obtained; listeners keep the certificate they have", "name", name,
			"retry_in", retry.String(), "err", err)
		return false
	}
	s.set(name, cert)
	return true
}

// sleep waits d, or less if ctx ends (then it returns false).
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// set holds cert for name, and logs when it is a new one.
func (s *acmeSource) set(name string, cert *tls.Certificate) {
	leaf := cert.Leaf
	if leaf == nil && len(cert.Certificate) > 0 {
		leaf, _ = x509.ParseCertificate(cert.Certificate[0])
		cert.Leaf = leaf
	}
	if leaf == nil {
		return
	}
	s.mu.Lock()
	old := s.certs[name]
	s.certs[name] = cert
	s.mu.Unlock()
	if old == nil || !old.Leaf.Equal(leaf) {
		s.log.Info("acme: certificate in use", "name", name, "issuer", leaf.Issuer.String(),
			"not_after", leaf.NotAfter.UTC().Format(time.RFC3339))
	}
}

// stored hears every write to autocert's cache: a certificate stored
// under one of our names was just issued (first or renewed), and is used
// from now on.
func (s *acmeSource) stored(key string, data []byte) {
	if !s.names[key] {
		return // the account key, a challenge token, ...
	}
	cert, err := tls.X509KeyPair(data, data)
	if err != nil {
		s.log.Error("acme: issued certificate unreadable", "name", key, "err", err)
		return
	}
	s.metrics.orders.WithLabelValues("issued").Inc()
	s.log.Info("acme: certificate issued", "name", key, "not_after", cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
	s.set(key, &cert)
}

// certificate answers a handshake: the challenge certificate for a CA's
// tls-alpn-01 check, else the held certificate for the name the client
// asked for, or the hostname's for no name or another one. nil, nil: none
// held yet (the Manager's own certificate then serves).
func (s *acmeSource) certificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if wantsChallenge(hello) {
		if s.http01 {
			return nil, errors.New("acme: tls-alpn-01 is not the configured challenge (tls.acme.challenge: http-01)")
		}
		c, err := s.mgr.GetCertificate(hello)
		if err == nil { // only answers: anyone can offer acme-tls/1
			s.log.Info("acme: answered a tls-alpn-01 challenge", "name", hello.ServerName)
		}
		return c, err
	}
	name := normalName(hello.ServerName)
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.certs[name]; c != nil && s.names[name] {
		return c, nil
	}
	return s.certs[s.hostname], nil
}

// leaf is the held certificate that expires first, or nil.
func (s *acmeSource) leaf() *x509.Certificate {
	s.mu.Lock()
	defer s.mu.Unlock()
	var first *x509.Certificate
	for _, c := range s.certs {
		if first == nil || c.Leaf.NotAfter.Before(first.NotAfter) {
			first = c.Leaf
		}
	}
	return first
}

// policy lets autocert order certificates for our names only, whatever
// a client asks for; the http-01 handler passes the Host header, port
// and all.
func (s *acmeSource) policy(_ context.Context, host string) error {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if !s.names[normalName(host)] {
		return fmt.Errorf("acme: %q is not in tls.acme.names", host)
	}
	return nil
}

// challengeConfig is the GetConfigForClient of a TLS listener: a CA's
// tls-alpn-01 check must negotiate the acme-tls/1 protocol (RFC 8737),
// which no other client is offered (a mail client that sends its own
// ALPN list would otherwise be refused).
func challengeConfig(base *tls.Config) func(*tls.ClientHelloInfo) (*tls.Config, error) {
	return func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		if !wantsChallenge(hello) {
			return nil, nil
		}
		c := base.Clone()
		c.GetConfigForClient = nil
		c.NextProtos = []string{acme.ALPNProto}
		return c, nil
	}
}

// wantsChallenge reports whether hello is a CA's tls-alpn-01 check: it
// offers acme-tls/1 and nothing else (RFC 8737 §3).
func wantsChallenge(hello *tls.ClientHelloInfo) bool {
	return len(hello.SupportedProtos) == 1 && hello.SupportedProtos[0] == acme.ALPNProto
}

// helloFor is a ClientHello for name from a client that supports ECDSA,
// so that autocert obtains (and later returns) the ECDSA P-256
// certificate: an empty hello would make it order an RSA one.
func helloFor(name string) *tls.ClientHelloInfo {
	return &tls.ClientHelloInfo{
		ServerName:       name,
		SignatureSchemes: []tls.SignatureScheme{tls.ECDSAWithP256AndSHA256},
		SupportedCurves:  []tls.CurveID{tls.CurveP256},
		CipherSuites:     []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
	}
}

// normalName is a host name as autocert keys it: lower case, no final dot.
func normalName(name string) string {
	return strings.TrimSuffix(strings.ToLower(name), ".")
}

// watchedCache is autocert's directory cache that tells stored about
// each write.
type watchedCache struct {
	autocert.DirCache
	stored func(key string, data []byte)
}

// Put writes data, then reports it.
func (c watchedCache) Put(ctx context.Context, key string, data []byte) error {
	if err := c.DirCache.Put(ctx, key, data); err != nil {
		return err
	}
	c.stored(key, data)
	return nil
}

// acmeHTTPClient talks to the CA, trusting the system's roots and those
// in caFile.
func acmeHTTPClient(caFile string) (*http.Client, error) {
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("tls.acme.ca_file: %w", err)
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls.acme.ca_file: %s holds no PEM certificate", caFile)
		}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: tr, Timeout: time.Minute}, nil
}
