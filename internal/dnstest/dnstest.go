// Package dnstest runs a real DNS server on loopback for tests, serving
// records given as zone-file lines, plus names that fail on purpose.
package dnstest

import (
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

// Server answers from its records over UDP and TCP on 127.0.0.1.
type Server struct {
	Addr string // host:port to point a resolver at

	mu       sync.Mutex
	records  map[key][]dns.RR
	servfail map[string]bool
	timeout  map[string]bool
	names    map[string]bool
	secure   map[string]bool
}

type key struct {
	name  string
	qtype uint16
}

// Start serves until the test ends. Records are zone-file lines such as
// "example.com. 300 IN MX 10 mx.example.com.".
func Start(t testing.TB, records ...string) *Server {
	t.Helper()
	s := &Server{records: map[key][]dns.RR{}, servfail: map[string]bool{}, timeout: map[string]bool{}, names: map[string]bool{}, secure: map[string]bool{}}
	s.Add(t, records...)
	pc, ln := listenPair(t)
	s.Addr = pc.LocalAddr().String()
	udp := &dns.Server{PacketConn: pc, Handler: s}
	tcp := &dns.Server{Listener: ln, Handler: s}
	go udp.ActivateAndServe()
	go tcp.ActivateAndServe()
	t.Cleanup(func() { udp.Shutdown(); tcp.Shutdown() })
	return s
}

// listenPair binds UDP and TCP on one loopback port. The TCP port can be
// taken by another process after the UDP bind, so it tries again.
func listenPair(t testing.TB) (net.PacketConn, net.Listener) {
	var last error
	for try := 0; try < 50; try++ {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return pc, ln
		}
		pc.Close()
		last = err
	}
	t.Fatalf("dnstest: no free UDP+TCP port pair: %v", last)
	return nil, nil
}

// Add serves more records.
func (s *Server) Add(t testing.TB, records ...string) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, line := range records {
		rr, err := dns.NewRR(line)
		if err != nil {
			t.Fatalf("dnstest: bad record %q: %v", line, err)
		}
		h := rr.Header()
		h.Name = strings.ToLower(h.Name)
		k := key{h.Name, h.Rrtype}
		s.records[k] = append(s.records[k], rr)
		s.names[h.Name] = true
	}
}

// ServFail makes every query for name answer SERVFAIL.
func (s *Server) ServFail(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.servfail[dns.Fqdn(strings.ToLower(name))] = true
}

// Timeout makes every query for name go unanswered.
func (s *Server) Timeout(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.timeout[dns.Fqdn(strings.ToLower(name))] = true
}

// Secure makes answers for name carry the AD bit, as a validating
// resolver sets it for DNSSEC-signed zones (DANE tests need it).
func (s *Server) Secure(names ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range names {
		s.secure[dns.Fqdn(strings.ToLower(n))] = true
	}
}

// Insecure takes the AD bit away from answers for names again.
func (s *Server) Insecure(names ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range names {
		delete(s.secure, dns.Fqdn(strings.ToLower(n)))
	}
}

// ServeDNS answers one query.
func (s *Server) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	if len(req.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
		w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.timeout[name]:
		return
	case s.servfail[name]:
		m.Rcode = dns.RcodeServerFailure
	default:
		m.Answer = s.answer(name, q.Qtype)
		if len(m.Answer) == 0 && !s.names[name] {
			m.Rcode = dns.RcodeNameError
		}
		m.AuthenticatedData = s.secure[name]
	}
	w.WriteMsg(m)
}

// answer returns the records for name, following one CNAME.
func (s *Server) answer(name string, qtype uint16) []dns.RR {
	if rrs := s.records[key{name, qtype}]; len(rrs) > 0 {
		return rrs
	}
	if c := s.records[key{name, dns.TypeCNAME}]; len(c) > 0 && qtype != dns.TypeCNAME {
		target := strings.ToLower(c[0].(*dns.CNAME).Target)
		return append(append([]dns.RR{}, c...), s.records[key{target, qtype}]...)
	}
	return nil
}
