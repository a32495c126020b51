package filters

import (
	"context"
	"net"
	"strings"
	"sync"
)

// memResolver answers from memory with the errors net.Resolver gives:
// IsNotFound for unknown names or no records, IsTemporary for SERVFAIL,
// IsTimeout for timeouts. It follows CNAMEs like a recursive resolver.
type memResolver struct {
	mu     sync.Mutex
	txts   map[string][]string
	addrs  map[string][]net.IPAddr
	mxs    map[string][]*net.MX
	ptrs   map[string][]string // by IP string
	cnames map[string]string
	errs   map[string]*net.DNSError
	names  map[string]bool
}

func newMemResolver() *memResolver {
	return &memResolver{txts: map[string][]string{}, addrs: map[string][]net.IPAddr{}, mxs: map[string][]*net.MX{},
		ptrs: map[string][]string{}, cnames: map[string]string{}, errs: map[string]*net.DNSError{}, names: map[string]bool{}}
}

func norm(name string) string { return strings.ToLower(strings.TrimSuffix(name, ".")) }

func (m *memResolver) add(name string) string {
	n := norm(name)
	m.names[n] = true
	return n
}

func (m *memResolver) txt(name string, strs []string) {
	n := m.add(name)
	m.txts[n] = append(m.txts[n], strings.Join(strs, ""))
}

func (m *memResolver) addr(name, ip string) {
	n := m.add(name)
	m.addrs[n] = append(m.addrs[n], net.IPAddr{IP: net.ParseIP(ip)})
}

func (m *memResolver) mx(name string, prio uint16, host string) {
	n := m.add(name)
	m.mxs[n] = append(m.mxs[n], &net.MX{Host: host + ".", Pref: prio})
}

func (m *memResolver) ptr(name, target string) {
	m.add(name)
	if ip := reverseIP(norm(name)); ip != "" {
		m.ptrs[ip] = append(m.ptrs[ip], strings.TrimSuffix(target, ".")+".")
	}
}

func (m *memResolver) cname(name, target string) { m.cnames[m.add(name)] = norm(target) }

func (m *memResolver) timeout(name string) {
	m.errs[m.add(name)] = &net.DNSError{Err: "i/o timeout", Name: name, IsTimeout: true, IsTemporary: true}
}

func (m *memResolver) servfail(name string) {
	m.errs[m.add(name)] = &net.DNSError{Err: "server misbehaving", Name: name, IsTemporary: true}
}

// reverseIP turns 4.3.2.1.in-addr.arpa (or an ip6.arpa name) into the IP.
func reverseIP(name string) string {
	var labels []string
	switch {
	case strings.HasSuffix(name, ".in-addr.arpa"):
		labels = strings.Split(strings.TrimSuffix(name, ".in-addr.arpa"), ".")
		for i, j := 0, len(labels)-1; i < j; i, j = i+1, j-1 {
			labels[i], labels[j] = labels[j], labels[i]
		}
		return net.ParseIP(strings.Join(labels, ".")).String()
	case strings.HasSuffix(name, ".ip6.arpa"):
		nibbles := strings.Split(strings.TrimSuffix(name, ".ip6.arpa"), ".")
		var b strings.Builder
		for i := len(nibbles) - 1; i >= 0; i-- {
			b.WriteString(nibbles[i])
			if i%4 == 0 && i > 0 {
				b.WriteByte(':')
			}
		}
		if ip := net.ParseIP(b.String()); ip != nil {
			return ip.String()
		}
	}
	return ""
}

// resolve follows CNAMEs from name; it returns the final name or an error.
func (m *memResolver) resolve(name string) (string, error) {
	n := norm(name)
	for range 10 {
		if err := m.errs[n]; err != nil {
			return "", err
		}
		target, ok := m.cnames[n]
		if !ok {
			return n, nil
		}
		n = target
	}
	return "", &net.DNSError{Err: "CNAME loop", Name: name}
}

func notFound(name string) error {
	return &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

func (m *memResolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.resolve(name)
	if err != nil {
		return nil, err
	}
	if len(m.txts[n]) == 0 {
		return nil, notFound(name)
	}
	return m.txts[n], nil
}

func (m *memResolver) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.resolve(name)
	if err != nil {
		return nil, err
	}
	if len(m.mxs[n]) == 0 {
		return nil, notFound(name)
	}
	return m.mxs[n], nil
}

func (m *memResolver) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.resolve(host)
	if err != nil {
		return nil, err
	}
	if len(m.addrs[n]) == 0 {
		return nil, notFound(host)
	}
	return m.addrs[n], nil
}

func (m *memResolver) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ip := net.ParseIP(addr)
	if ip == nil {
		return nil, notFound(addr)
	}
	if err := m.errs[ptrName(ip)]; err != nil {
		return nil, err
	}
	if len(m.ptrs[ip.String()]) == 0 {
		return nil, notFound(addr)
	}
	return m.ptrs[ip.String()], nil
}

// ptrName is the reverse zone name of ip, as the suite writes it.
func ptrName(ip net.IP) string {
	if v4 := ip.To4(); v4 != nil {
		return norm(net.IPv4(v4[3], v4[2], v4[1], v4[0]).String() + ".in-addr.arpa")
	}
	const hex = "0123456789abcdef"
	var b strings.Builder
	for i := len(ip) - 1; i >= 0; i-- {
		b.WriteByte(hex[ip[i]&0xf])
		b.WriteByte('.')
		b.WriteByte(hex[ip[i]>>4])
		b.WriteByte('.')
	}
	return b.String() + "ip6.arpa"
}
