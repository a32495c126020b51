package delivery

import (
	"context"
	"crypto/sha256"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"mailgate/dane"
	"mailgate/internal/dnstest"
	"mailgate/internal/mailmsg"
	"mailgate/internal/smtptest"
	"mailgate/internal/testpki"
	"mailgate/mtasts"
)

type reports struct {
	mu  sync.Mutex
	all []TLSOutcome
}

func (r *reports) Record(o TLSOutcome) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.all = append(r.all, o)
}

func (r *reports) results() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, o := range r.all {
		out = append(out, o.PolicyType+":"+or(o.Result, "success"))
	}
	return out
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// policyWorld is a destination dest.test with one MX, mx.dest.test, whose
// certificate comes from a test CA the Remote trusts.
type policyWorld struct {
	ca   *testpki.CA
	dns  *dnstest.Server
	srv  *smtptest.Server
	r    *Remote
	logs *logBuf
	rep  *reports
}

func newPolicyWorld(t *testing.T, certNames []string, starttls bool) *policyWorld {
	t.Helper()
	w := &policyWorld{ca: testpki.New(t), rep: &reports{}}
	cert := w.ca.Issue(t, certNames...)
	w.srv = smtptest.Start(t, smtptest.Config{Hostname: "mx.dest.test", STARTTLS: starttls, Certificate: &cert})
	w.dns = dnstest.Start(t, "dest.test. 300 IN MX 10 mx.dest.test.", "mx.dest.test. 300 IN A 127.0.0.1")
	w.r, w.logs, _ = newRemote(t, w.dns, w.srv.Port())
	w.r.RootCAs = w.ca.Pool
	w.r.Policies = TLSPolicies{DANE: &dane.Resolver{Server: w.dns.Addr, Timeout: 5 * time.Second}, Report: w.rep}
	return w
}

// tlsa publishes a 3 1 1 record for the MX, for the given SPKI, signed.
func (w *policyWorld) tlsa(t *testing.T, usage int, spki []byte) {
	h := sha256.Sum256(spki)
	w.dns.Add(t, fmt.Sprintf("_%d._tcp.mx.dest.test. 300 IN TLSA %d 1 1 %x", w.srv.Port(), usage, h))
	w.dns.Secure("dest.test", "mx.dest.test", fmt.Sprintf("_%d._tcp.mx.dest.test", w.srv.Port()))
}

// sts gives the Remote an MTA-STS policy for dest.test, as if fetched.
func (w *policyWorld) sts(t *testing.T, mode mtasts.Mode, mx string) {
	c := &mtasts.Cache{}
	text := fmt.Sprintf("version: STSv1\nmode: %s\nmx: %s\nmax_age: 86400\n", mode, mx)
	p, err := mtasts.Parse([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	p.Domain, p.ID, p.Fetched = "dest.test", "x1", time.Now()
	c.Put(p)
	w.r.Policies.STS = &mtasts.Fetcher{
		LookupTXT: func(context.Context, string) ([]string, error) { return []string{"v=STSv1; id=x1"}, nil },
		Cache:     c,
	}
}

func (w *policyWorld) deliver(t *testing.T) mailmsg.Result {
	t.Helper()
	res := w.r.Deliver(context.Background(), request("p1", "a@dest.test"))
	return res[0]
}

func TestDANEMatchDelivers(t *testing.T) {
	t.Parallel()
	w := newPolicyWorld(t, []string{"unrelated.example"}, true) // DANE-EE ignores the names
	w.tlsa(t, 3, w.srv.Certificate().Leaf.RawSubjectPublicKeyInfo)
	wantErr(t, w.deliver(t), mailmsg.Error{})
	if !strings.Contains(w.logs.String(), "tls=dane") {
		t.Errorf("log does not say tls=dane:\n%s", w.logs)
	}
	if got := strings.Join(w.rep.results(), ","); got != "tlsa:success" {
		t.Errorf("reported %s", got)
	}
}

func TestDANEMismatchDefersWithoutPlainText(t *testing.T) {
	t.Parallel()
	w := newPolicyWorld(t, []string{"mx.dest.test"}, true)
	w.tlsa(t, 3, testpki.New(t).Cert.RawSubjectPublicKeyInfo)
	r := w.deliver(t)
	wantErr(t, r, mailmsg.Error{Code: 451, Enhanced: "4.7.5", Command: mailmsg.CmdTLS, RemoteMTA: "mx.dest.test"})
	if n := len(w.srv.Messages()); n != 0 {
		t.Fatalf("%d messages reached the server despite the TLSA mismatch", n)
	}
	if got := strings.Join(w.rep.results(), ","); got != "tlsa:tlsa-invalid" {
		t.Errorf("reported %s", got)
	}
}

func TestDANEWithoutSTARTTLSDefers(t *testing.T) {
	t.Parallel()
	w := newPolicyWorld(t, []string{"mx.dest.test"}, false)
	w.tlsa(t, 3, []byte("any"))
	wantErr(t, w.deliver(t), mailmsg.Error{Code: 451, Enhanced: "4.7.10", Command: mailmsg.CmdTLS, RemoteMTA: "mx.dest.test"})
	if got := strings.Join(w.rep.results(), ","); got != "tlsa:starttls-not-supported" {
		t.Errorf("reported %s", got)
	}
}

func TestDANENeedsDNSSEC(t *testing.T) {
	t.Parallel()
	w := newPolicyWorld(t, []string{"mx.dest.test"}, true)
	h := sha256.Sum256([]byte("not the key"))
	w.dns.Add(t, fmt.Sprintf("_%d._tcp.mx.dest.test. 300 IN TLSA 3 1 1 %x", w.srv.Port(), h))
	// No AD bit: the TLSA records are not trusted, delivery is opportunistic.
	wantErr(t, w.deliver(t), mailmsg.Error{})
	if !strings.Contains(w.logs.String(), "tls=opportunistic") {
		t.Errorf("log does not say tls=opportunistic:\n%s", w.logs)
	}
}

// An MX host whose address records DNSSEC does not vouch for gets no
// DANE even with signed TLSA records (RFC 7672 §2.2.2): a forged address
// could point anywhere, so the mismatching TLSA record below is not used.
func TestDANENeedsSecureMXAddresses(t *testing.T) {
	t.Parallel()
	w := newPolicyWorld(t, []string{"mx.dest.test"}, true)
	w.tlsa(t, 3, testpki.New(t).Cert.RawSubjectPublicKeyInfo)
	w.dns.Insecure("mx.dest.test")
	wantErr(t, w.deliver(t), mailmsg.Error{})
	if !strings.Contains(w.logs.String(), "tls=opportunistic") {
		t.Errorf("log does not say tls=opportunistic:\n%s", w.logs)
	}
}

// A bogus (SERVFAIL) address answer in a secure MX set makes the host
// unusable: neither DANE nor plain delivery.
func TestDANEBogusMXAddressDefers(t *testing.T) {
	t.Parallel()
	w := newPolicyWorld(t, []string{"mx.dest.test"}, true)
	w.tlsa(t, 3, w.srv.Certificate().Leaf.RawSubjectPublicKeyInfo)
	w.dns.ServFail("mx.dest.test")
	r := w.deliver(t)
	wantErr(t, r, mailmsg.Error{Code: 451, Enhanced: "4.7.5", Command: mailmsg.CmdTLS, RemoteMTA: "mx.dest.test"})
	if n := len(w.srv.Messages()); n != 0 {
		t.Fatalf("%d messages reached the server despite the bogus address", n)
	}
	if !strings.Contains(r.Err.Error(), "address lookup for mx.dest.test failed") {
		t.Errorf("reason %q", r.Err)
	}
}

// An MX host that is a secure alias (CNAME) is checked against the TLSA
// records of the expanded name first (RFC 7672 §2.2.2), and a DANE-TA
// certificate may name the expanded host.
func TestDANEFollowsSecureMXAlias(t *testing.T) {
	for _, tc := range []struct {
		name  string
		match bool
	}{{"match", true}, {"mismatch", false}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newPolicyWorld(t, []string{"real.hoster.test"}, true)
			w.dns = dnstest.Start(t, "dest.test. 300 IN MX 10 mx.dest.test.",
				"mx.dest.test. 300 IN CNAME real.hoster.test.", "real.hoster.test. 300 IN A 127.0.0.1")
			w.r, w.logs, _ = newRemote(t, w.dns, w.srv.Port())
			w.r.RootCAs = w.ca.Pool
			w.r.Policies = TLSPolicies{DANE: &dane.Resolver{Server: w.dns.Addr, Timeout: 5 * time.Second}, Report: w.rep}
			spki := testpki.New(t).Cert.RawSubjectPublicKeyInfo
			if tc.match {
				spki = w.ca.Cert.RawSubjectPublicKeyInfo // DANE-TA: the CA, names checked
			}
			h := sha256.Sum256(spki)
			w.dns.Add(t, fmt.Sprintf("_%d._tcp.real.hoster.test. 300 IN TLSA 2 1 1 %x", w.srv.Port(), h))
			w.dns.Secure("dest.test", "mx.dest.test", fmt.Sprintf("_%d._tcp.real.hoster.test", w.srv.Port()))
			r := w.deliver(t)
			if !tc.match {
				wantErr(t, r, mailmsg.Error{Code: 451, Enhanced: "4.7.5", Command: mailmsg.CmdTLS, RemoteMTA: "mx.dest.test"})
				return
			}
			wantErr(t, r, mailmsg.Error{})
			if !strings.Contains(w.logs.String(), "tls=dane") {
				t.Errorf("log does not say tls=dane:\n%s", w.logs)
			}
		})
	}
}

func TestDANETakesPrecedenceOverMTASTS(t *testing.T) {
	t.Parallel()
	w := newPolicyWorld(t, []string{"wrong.example"}, true) // fails MTA-STS's name check
	w.sts(t, mtasts.Enforce, "mx.dest.test")
	w.tlsa(t, 3, w.srv.Certificate().Leaf.RawSubjectPublicKeyInfo)
	wantErr(t, w.deliver(t), mailmsg.Error{})
	if !strings.Contains(w.logs.String(), "tls=dane") {
		t.Errorf("log does not say tls=dane:\n%s", w.logs)
	}
}

func TestMTASTSEnforce(t *testing.T) {
	t.Parallel()
	w := newPolicyWorld(t, []string{"mx.dest.test"}, true)
	w.sts(t, mtasts.Enforce, "*.dest.test")
	wantErr(t, w.deliver(t), mailmsg.Error{})
	if !strings.Contains(w.logs.String(), "tls=mta-sts") {
		t.Errorf("log does not say tls=mta-sts:\n%s", w.logs)
	}
	if got := strings.Join(w.rep.results(), ","); got != "sts:success" {
		t.Errorf("reported %s", got)
	}
}

func TestMTASTSEnforceRefusesBadCertificate(t *testing.T) {
	t.Parallel()
	w := newPolicyWorld(t, []string{"other.dest.test"}, true)
	w.sts(t, mtasts.Enforce, "mx.dest.test")
	wantErr(t, w.deliver(t), mailmsg.Error{Code: 451, Enhanced: "4.7.5", Command: mailmsg.CmdTLS, RemoteMTA: "mx.dest.test"})
	if n := len(w.srv.Messages()); n != 0 {
		t.Fatalf("%d messages sent over a connection the policy forbids", n)
	}
	if got := strings.Join(w.rep.results(), ","); got != "sts:certificate-host-mismatch" {
		t.Errorf("reported %s", got)
	}
}

func TestMTASTSEnforceRefusesUnlistedMX(t *testing.T) {
	t.Parallel()
	w := newPolicyWorld(t, []string{"mx.dest.test"}, true)
	w.sts(t, mtasts.Enforce, "mail.dest.test")
	r := w.deliver(t)
	wantErr(t, r, mailmsg.Error{Code: 451, Enhanced: "4.7.5", Command: mailmsg.CmdTLS, RemoteMTA: "mx.dest.test"})
	if !strings.Contains(r.Err.Error(), "does not name mx.dest.test") {
		t.Errorf("reason %q", r.Err)
	}
}

func TestMTASTSTestingDeliversAndReports(t *testing.T) {
	t.Parallel()
	w := newPolicyWorld(t, []string{"other.dest.test"}, true)
	w.sts(t, mtasts.Testing, "mx.dest.test")
	wantErr(t, w.deliver(t), mailmsg.Error{})
	if got := strings.Join(w.rep.results(), ","); got != "sts:certificate-host-mismatch" {
		t.Errorf("reported %s", got)
	}
}
