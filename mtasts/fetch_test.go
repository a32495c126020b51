package mtasts

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"mailgate/internal/testpki"
)

// policyHost is a loopback HTTPS server standing in for
// mta-sts.example.com, with a certificate from a test CA.
type policyHost struct {
	ca      *testpki.CA
	port    int
	body    atomic.Value // string
	ctype   atomic.Value // string
	status  atomic.Int32
	fetches atomic.Int32
}

func startPolicyHost(t *testing.T, cert func(*testpki.CA) tls.Certificate) *policyHost {
	h := &policyHost{ca: testpki.New(t)}
	h.body.Store("version: STSv1\nmode: enforce\nmx: mx.example.com\nmax_age: 86400\n")
	h.ctype.Store("text/plain; charset=utf-8")
	h.status.Store(200)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.port = ln.Addr().(*net.TCPAddr).Port
	c := cert(h.ca)
	srv := &http.Server{
		Handler:   http.HandlerFunc(h.serve),
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{c}},
		ErrorLog:  log.New(io.Discard, "", 0),
	}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
	return h
}

func (h *policyHost) serve(w http.ResponseWriter, r *http.Request) {
	h.fetches.Add(1)
	if r.URL.Path != "/.well-known/mta-sts.txt" {
		http.NotFound(w, r)
		return
	}
	if s := int(h.status.Load()); s != 200 {
		w.Header().Set("Location", "https://elsewhere.example/")
		w.WriteHeader(s)
		return
	}
	w.Header().Set("Content-Type", h.ctype.Load().(string))
	fmt.Fprint(w, h.body.Load().(string))
}

// fetcher points every name at the policy host and answers TXT from txt.
func (h *policyHost) fetcher(dir string, txt *atomic.Value, now *time.Time) *Fetcher {
	return &Fetcher{
		LookupTXT: func(_ context.Context, name string) ([]string, error) {
			v, _ := txt.Load().([]string)
			if name != "_mta-sts.example.com" || v == nil {
				return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
			}
			return v, nil
		},
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if !strings.HasPrefix(addr, "mta-sts.example.com:") {
				return nil, fmt.Errorf("dial to unexpected %s", addr)
			}
			return (&net.Dialer{}).DialContext(ctx, network, fmt.Sprintf("127.0.0.1:%d", h.port))
		},
		RootCAs: h.ca.Pool,
		Port:    h.port,
		Cache:   &Cache{Dir: dir},
		Now:     func() time.Time { return *now },
	}
}

func TestLookupFetchesCachesAndRefreshes(t *testing.T) {
	h := startPolicyHost(t, func(ca *testpki.CA) tls.Certificate { return ca.Issue(t, "mta-sts.example.com") })
	dir := t.TempDir()
	var txt atomic.Value
	txt.Store([]string{"v=STSv1; id=one"})
	now := time.Now()
	f := h.fetcher(dir, &txt, &now)
	ctx := context.Background()

	p, err := f.Lookup(ctx, "example.com")
	if err != nil || p == nil || p.Mode != Enforce || !p.MatchMX("mx.example.com") {
		t.Fatalf("first lookup: %+v, %v", p, err)
	}
	if _, err := f.Lookup(ctx, "example.com"); err != nil || h.fetches.Load() != 1 {
		t.Fatalf("same id fetched again (%d fetches), %v", h.fetches.Load(), err)
	}

	// A restart keeps the policy: a new fetcher over the same directory,
	// with the TXT record gone (an attacker blocking DNS), still enforces.
	txt.Store([]string(nil))
	f2 := h.fetcher(dir, &txt, &now)
	if p, _ := f2.Lookup(ctx, "example.com"); p == nil || p.Mode != Enforce {
		t.Fatalf("after restart without TXT: %+v", p)
	}

	// A new id fetches the new policy.
	txt.Store([]string{"v=STSv1; id=two"})
	h.body.Store("version: STSv1\nmode: testing\nmx: mx2.example.com\nmax_age: 60\n")
	if p, err := f2.Lookup(ctx, "example.com"); err != nil || p.Mode != Testing || p.ID != "two" {
		t.Fatalf("after id change: %+v, %v", p, err)
	}

	// Past max_age with no TXT record, the policy no longer applies.
	now = now.Add(61 * time.Second)
	txt.Store([]string(nil))
	if p, _ := f2.Lookup(ctx, "example.com"); p != nil {
		t.Fatalf("expired policy still applied: %+v", p)
	}
}

func TestLookupFailuresKeepCachedPolicy(t *testing.T) {
	h := startPolicyHost(t, func(ca *testpki.CA) tls.Certificate { return ca.Issue(t, "mta-sts.example.com") })
	var txt atomic.Value
	txt.Store([]string{"v=STSv1; id=one"})
	now := time.Now()
	f := h.fetcher(t.TempDir(), &txt, &now)
	ctx := context.Background()
	if p, err := f.Lookup(ctx, "example.com"); p == nil || err != nil {
		t.Fatalf("first: %+v %v", p, err)
	}
	txt.Store([]string{"v=STSv1; id=two"})
	h.status.Store(302)
	p, err := f.Lookup(ctx, "example.com")
	var fe *FetchError
	if p == nil || p.ID != "one" || !errors.As(err, &fe) || fe.Type != FailFetch {
		t.Fatalf("redirect: policy %+v, err %v", p, err)
	}
	h.status.Store(200)
	h.body.Store("version: STSv1\nmode: enforce\n")
	if p, err := f.Lookup(ctx, "example.com"); p == nil || p.ID != "one" || !errors.As(err, &fe) || fe.Type != FailInvalid {
		t.Fatalf("invalid body: %+v, %v", p, err)
	}
	h.body.Store("version: STSv1\nmode: enforce\nmx: mx.example.com\nmax_age: 86400\n")
	h.ctype.Store("text/html")
	if _, err := f.Lookup(ctx, "example.com"); !errors.As(err, &fe) || fe.Type != FailInvalid {
		t.Fatalf("text/html: %v", err)
	}
}

func TestLookupRefusesUnverifiedCertificate(t *testing.T) {
	for name, cert := range map[string]func(*testing.T, *testpki.CA) tls.Certificate{
		"wrong name": func(t *testing.T, ca *testpki.CA) tls.Certificate { return ca.Issue(t, "other.example.com") },
		"expired": func(t *testing.T, ca *testpki.CA) tls.Certificate {
			return ca.IssueValid(t, time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour), "mta-sts.example.com")
		},
		"untrusted CA": func(t *testing.T, _ *testpki.CA) tls.Certificate {
			return testpki.New(t).Issue(t, "mta-sts.example.com")
		},
	} {
		t.Run(name, func(t *testing.T) {
			h := startPolicyHost(t, func(ca *testpki.CA) tls.Certificate { return cert(t, ca) })
			var txt atomic.Value
			txt.Store([]string{"v=STSv1; id=one"})
			now := time.Now()
			p, err := h.fetcher(t.TempDir(), &txt, &now).Lookup(context.Background(), "example.com")
			var fe *FetchError
			if p != nil || !errors.As(err, &fe) || fe.Type != FailWebPKI {
				t.Fatalf("policy %+v, err %v; want no policy and %s", p, err, FailWebPKI)
			}
		})
	}
}
