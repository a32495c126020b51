package mtasts

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// FetchTimeout bounds one policy fetch, so a slow policy host delays one
// delivery attempt by at most this long.
const FetchTimeout = 20 * time.Second

// Failure types of RFC 8460 §4.3 that a policy lookup can cause.
const (
	FailFetch   = "sts-policy-fetch-error"
	FailInvalid = "sts-policy-invalid"
	FailWebPKI  = "sts-webpki-invalid"
)

// FetchError is a policy that could not be had, with its RFC 8460
// result type for the TLS report.
type FetchError struct {
	Type string
	Err  error
}

func (e *FetchError) Error() string { return e.Type + ": " + e.Err.Error() }
func (e *FetchError) Unwrap() error { return e.Err }

// Fetcher finds the policy that applies to a destination domain.
type Fetcher struct {
	// LookupTXT answers TXT queries (the configured resolver's).
	LookupTXT func(ctx context.Context, name string) ([]string, error)
	// Dial opens the HTTPS connection; it resolves names with the
	// configured resolver. Nil: a net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// RootCAs verifies the policy host (nil: the system's roots).
	RootCAs *x509.CertPool
	Port    int // 443 unless a test says otherwise
	Cache   *Cache
	Now     func() time.Time

	once   sync.Once
	client *http.Client
	mu     sync.Mutex
	busy   map[string]*sync.Mutex
}

// Lookup returns the policy to apply to domain, or nil when there is
// none. A non-nil error is a failure to report (TLS-RPT); the policy
// returned with it is the still-valid cached one, if any (RFC 8461 §5.1:
// a cached policy stands while the TXT record or the fetch fails).
func (f *Fetcher) Lookup(ctx context.Context, domain string) (*Policy, error) {
	lock := f.domainLock(domain)
	lock.Lock()
	defer lock.Unlock()
	now := f.now()
	cached := f.Cache.Get(domain)
	if cached != nil && cached.Expired(now) {
		cached = nil
	}
	txts, err := f.LookupTXT(ctx, "_mta-sts."+domain)
	if err != nil {
		return cached, nil // no record, or DNS trouble: the cache decides
	}
	id, err := ParseTXT(txts)
	if err != nil {
		return cached, nil
	}
	if cached != nil && cached.ID == id {
		return cached, nil
	}
	p, err := f.fetch(ctx, domain)
	if err != nil {
		return cached, err
	}
	p.Domain, p.ID, p.Fetched = domain, id, now
	if err := f.Cache.Put(p); err != nil {
		return p, nil // applies now; the disk copy is only lost for a restart
	}
	return p, nil
}

func (f *Fetcher) domainLock(domain string) *sync.Mutex {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.busy == nil {
		f.busy = map[string]*sync.Mutex{}
	}
	if f.busy[domain] == nil {
		f.busy[domain] = &sync.Mutex{}
	}
	return f.busy[domain]
}

func (f *Fetcher) now() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return time.Now()
}

// fetch gets https://mta-sts.DOMAIN/.well-known/mta-sts.txt (RFC 8461
// §3.3): a verified certificate for that name, status 200 without
// following redirects, text/plain, at most 64 KiB.
func (f *Fetcher) fetch(ctx context.Context, domain string) (*Policy, error) {
	ctx, cancel := context.WithTimeout(ctx, FetchTimeout)
	defer cancel()
	host := "mta-sts." + domain
	if f.Port != 0 && f.Port != 443 {
		host = net.JoinHostPort(host, strconv.Itoa(f.Port))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+host+"/.well-known/mta-sts.txt", nil)
	if err != nil {
		return nil, &FetchError{FailFetch, err}
	}
	resp, err := f.httpClient().Do(req)
	if err != nil {
		return nil, classify(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, &FetchError{FailFetch, fmt.Errorf("policy host answered %s", resp.Status)}
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "text/plain" {
		return nil, &FetchError{FailInvalid, fmt.Errorf("policy served as %q, not text/plain", mt)}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxPolicySize+1))
	if err != nil {
		return nil, &FetchError{FailFetch, err}
	}
	p, err := Parse(body)
	if err != nil {
		return nil, &FetchError{FailInvalid, err}
	}
	return p, nil
}

// classify tells a certificate problem (sts-webpki-invalid) from any
// other failure to fetch.
func classify(err error) error {
	var unknown x509.UnknownAuthorityError
	var host x509.HostnameError
	var invalid x509.CertificateInvalidError
	var verify *tls.CertificateVerificationError
	if errors.As(err, &unknown) || errors.As(err, &host) || errors.As(err, &invalid) || errors.As(err, &verify) {
		return &FetchError{FailWebPKI, err}
	}
	return &FetchError{FailFetch, err}
}

func (f *Fetcher) httpClient() *http.Client {
	f.once.Do(func() {
		dial := f.Dial
		if dial == nil {
			dial = (&net.Dialer{Timeout: FetchTimeout}).DialContext
		}
		f.client = &http.Client{
			Transport: &http.Transport{
				DialContext:         dial,
				TLSClientConfig:     &tls.Config{RootCAs: f.RootCAs, MinVersion: tls.VersionTLS12},
				TLSHandshakeTimeout: FetchTimeout,
				DisableKeepAlives:   true,
				Proxy:               nil, // RFC 8461 names the host; no proxy in between
			},
			// RFC 8461 §3.3: "HTTP 3xx redirects MUST NOT be followed".
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	})
	return f.client
}
