package config

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

var syntaxRE = regexp.MustCompile(`^yaml: (?:line (\d+): )?`)

// parserProblems are the messages of yaml.v3's parser (as opposed to its
// scanner). For them yaml.v3 prints a 0-based line (the line where the
// construct it was parsing started), so one is added.
var parserProblems = map[string]bool{
	"did not find expected <stream-start>":   true,
	"did not find expected <document start>": true,
	"did not find expected node content":     true,
	"did not find expected '-' indicator":    true,
	"did not find expected key":              true,
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
	"found duplicate %TAG directive":         true,
	"found undefined tag handle":             true,
}

// syntaxProblem turns a YAML syntax error into a 1-based line and the
// message without the "yaml: line N: " prefix, which the problem line
// already says.
func syntaxProblem(err error) (int, string) {
	msg := err.Error()
	m := syntaxRE.FindStringSubmatch(msg)
	if m == nil {
		return 1, msg
	}
	msg = msg[len(m[0]):]
	line := 0
	if m[1] != "" {
		line, _ = strconv.Atoi(m[1])
	}
	if parserProblems[msg] {
		line++
	}
	return max(line, 1), msg
}

// problemLine finds the line that makes a syntax problem. yaml.v3 often
// names the line where the construct it was parsing began (a list's
// first "-" for a mis-indented key twenty lines further on, the line
// before a tab that breaks the indentation), so the problem is put on the
// first line, from yaml.v3's on, whose addition makes the text before it
// fail with the same message. Without such a line, from is kept.
func problemLine(data []byte, from int, msg string) int {
	lines := bytes.SplitAfter(data, []byte("\n"))
	for k := from; k <= len(lines) && k <= maxProblemSearch; k++ {
		var root yaml.Node
		err := yaml.Unmarshal(bytes.Join(lines[:k], nil), &root)
		if err == nil {
			continue
		}
		if _, m := syntaxProblem(err); m == msg {
			return k
		}
	}
	return from
}

// maxProblemSearch bounds problemLine's parses (a config file has a few
// hundred lines; each parse takes microseconds).
const maxProblemSearch = 1000

func (c *Config) validate(v *Validator) {
	if !IsDomain(c.Hostname) {
		v.Errorf("hostname", "%q is not a host name; write a fully qualified name such as mail.example.com", c.Hostname)
	}
	if c.DataDir == "" {
		v.Errorf("data_dir", "missing; write a directory for the spool and mailboxes, such as /var/lib/mailgate")
	}
	for i, d := range c.LocalDomains {
		if !IsDomain(d) {
			v.Errorf(fmt.Sprintf("local_domains[%d]", i), "%q is not a domain; write a domain name such as example.com", d)
		}
	}
	c.Log.validate(v)
	c.TLS.validate(v)
	c.validateACME(v)
	c.validateListeners(v)
	c.Limits.validate(v)
	c.Auth.validate(v)
	c.Queue.validate(v)
	c.Delivery.validate(v)
	c.Mailbox.validate(v, c)
	c.Sieve.validate(v)
	c.Reports.validate(v)
	c.MTASTS.validate(v)
	c.Cluster.validate(v)
	c.HTTP.validate(v)
	if c.Auth.LDAP != nil {
		c.Auth.LDAP.validate(v)
	}
}

func (l *Log) validate(v *Validator) {
	switch l.Level {
	case "debug", "info", "warn", "error":
	default:
		v.Errorf("log.level", "%q is not a log level; write debug, info, warn or error", l.Level)
	}
	if l.Format != "text" && l.Format != "json" {
		v.Errorf("log.format", "%q is not a log format; write text or json", l.Format)
	}
}

func (t *TLS) validate(v *Validator) {
	if (t.CertFile == "") != (t.KeyFile == "") {
		v.Errorf("tls", "cert_file and key_file go together; give both, or neither for a self-signed certificate")
	}
	checkFile(v, "tls.cert_file", t.CertFile, "certificate")
	checkFile(v, "tls.key_file", t.KeyFile, "private key")
	if len(t.More) > 0 && t.CertFile == "" {
		v.Errorf("tls.more_certificates", "needs tls.cert_file and tls.key_file; give the first pair there")
	}
	for i, p := range t.More {
		path := fmt.Sprintf("tls.more_certificates[%d]", i)
		if p.CertFile == "" || p.KeyFile == "" {
			v.Errorf(path, "cert_file and key_file go together; give both")
		}
		checkFile(v, path+".cert_file", p.CertFile, "certificate")
		checkFile(v, path+".key_file", p.KeyFile, "private key")
	}
}

// checkFile reports a file that cannot be read, when a name is given.
func checkFile(v *Validator, path, name, what string) {
	if name == "" {
		return
	}
	f, err := os.Open(name)
	if err != nil {
		v.Errorf(path, "cannot read %s file %q (%s); write the path of an existing, readable file", what, name, Reason(err))
		return
	}
	f.Close()
}

// Reason says in a few words why a file cannot be read, for a config
// error (filters' blocks use it too).
func Reason(err error) string {
	switch {
	case os.IsNotExist(err):
		return "no such file"
	case os.IsPermission(err):
		return "permission denied"
	}
	return err.Error()
}

var protocols = map[string]bool{
	ProtoSMTP: true, ProtoSubmission: true, ProtoSubmissions: true, ProtoLMTP: true, ProtoIMAP: true,
	ProtoIMAPS: true, ProtoPOP3: true, ProtoPOP3S: true, ProtoHTTP: true, ProtoManageSieve: true, ProtoAPI: true,
}

func (c *Config) validateListeners(v *Validator) {
	var bound []binding
	names := map[string]bool{}
	sockets := map[string]string{} // unix: path -> the listener that has it
	for i, l := range c.Listeners {
		p := fmt.Sprintf("listeners[%d]", i)
		if l.Name != "" && names[l.Name] {
			v.Errorf(p+".name", "listener name %q is used twice; give each listener its own name", l.Name)
		}
		names[l.Name] = true
		if !protocols[l.Protocol] {
			v.Errorf(p+".protocol", "%q is not a protocol; write one of smtp, submission, submissions, lmtp, imap, imaps, pop3, pop3s, managesieve, http, api", l.Protocol)
		}
		validateSocket(v, p, &l)
		if path, unix := SocketPath(l.Address); unix {
			validSocketAddress(v, p, &l)
			if prev, ok := sockets[path]; ok {
				v.Errorf(p+".address", "%s is already used by %s; give each listener its own socket", l.Address, prev)
			}
			sockets[path] = p
		} else if b, ok := validAddress(v, p+".address", l.Address); ok {
			b.path = p
			bound = checkBinding(v, bound, b, l.Address)
		}
		c.Listeners[i].validateProxy(v, p)
		c.validateListenerFilters(v, p, &l)
	}
}

// checkBinding reports b when it overlaps a binding already in bound, and
// returns bound with b added.
func checkBinding(v *Validator, bound []binding, b binding, addr string) []binding {
	for _, prev := range bound {
		if prev.overlaps(b) {
			v.Errorf(b.path+".address", "%s is already used by %s; give each listener its own address", addr, prev.path)
			break
		}
	}
	return append(bound, b)
}

// validateListenerFilters checks the filters key of listener l at p.
func (c *Config) validateListenerFilters(v *Validator, p string, l *Listener) {
	if len(l.Filters) > 0 && !IsSMTP(l.Protocol) {
		v.Errorf(p+".filters", "filters run only on smtp, submission, submissions and lmtp listeners; remove this key")
	}
	for j, f := range l.Filters {
		if !c.Filters.Known(f) {
			v.Errorf(fmt.Sprintf("%s.filters[%d]", p, j), "%q is not a filter; write one of %s", f, strings.Join(c.Filters.Names(), ", "))
		}
	}
}

// IsSMTP reports whether a listener protocol is served by the relay: the
// SMTP ones and LMTP.
func IsSMTP(proto string) bool {
	return proto == ProtoSMTP || proto == ProtoSubmission || proto == ProtoSubmissions || proto == ProtoLMTP
}

// binding is where a listener's socket binds, to find two listeners that
// cannot both bind: "127.0.0.1:25" and "127.0.0.1:025" are the same
// socket, and a wildcard address takes its port on every address.
type binding struct {
	ip   net.IP // nil: every address ("" or "::")
	port int
	path string
}

func (a binding) overlaps(b binding) bool {
	if a.port != b.port {
		return false
	}
	if a.ip == nil || b.ip == nil || a.ip.Equal(b.ip) {
		return true
	}
	// 0.0.0.0 takes the port on every IPv4 address.
	return (a.ip.Equal(net.IPv4zero) && b.ip.To4() != nil) || (b.ip.Equal(net.IPv4zero) && a.ip.To4() != nil)
}

// validAddress checks a host:port listener address.
func validAddress(v *Validator, path, addr string) (binding, bool) {
	if addr == "" {
		v.Errorf(path, "missing; write an address such as 127.0.0.1:25 or [::1]:25")
		return binding{}, false
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		v.Errorf(path, "%q is not host:port; write an address such as 127.0.0.1:25 or [::1]:25", addr)
		return binding{}, false
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		v.Errorf(path, "port %q is out of range; write a port from 1 to 65535", port)
		return binding{}, false
	}
	b := binding{port: n}
	switch ip := net.ParseIP(host); {
	case host == "" || (ip != nil && ip.Equal(net.IPv6unspecified)):
	case host == "localhost": // Go listens on the first address: 127.0.0.1
		b.ip = net.IPv4(127, 0, 0, 1)
	case ip == nil:
		v.Errorf(path, "host %q is not an IP address; write an IP address such as 0.0.0.0 or ::, or leave it empty", host)
		return binding{}, false
	default:
		b.ip = ip
	}
	return b, true
}

func (l *Limits) validate(v *Validator) {
	positive := []struct {
		path string
		n    int
	}{
		{"limits.max_recipients", l.MaxRecipients},
		{"limits.max_line_length", l.MaxLineLength},
		{"limits.max_connections", l.MaxConnections},
		{"limits.max_connections_per_ip", l.MaxConnectionsPerIP},
		{"limits.max_errors", l.MaxErrors},
		{"limits.max_received_headers", l.MaxReceivedHeaders},
	}
	for _, p := range positive {
		if p.n < 1 {
			v.Errorf(p.path, "%d is not allowed; write a number of 1 or more", p.n)
		}
	}
	if l.MaxLineLength > 0 && l.MaxLineLength < 1000 {
		v.Errorf("limits.max_line_length", "%d is below the 1000 octets RFC 5321 requires; write 1000 or more", l.MaxLineLength)
	}
	if l.MaxMessageSize < 1024 {
		v.Errorf("limits.max_message_size", "%d bytes is too small for any message; write a size such as 25MB", l.MaxMessageSize)
	}
	if l.CommandTimeout.D() < 1e9 {
		v.Errorf("limits.command_timeout", "must be at least 1s; RFC 5321 suggests 5m")
	}
	if l.DataTimeout.D() < 1e9 {
		v.Errorf("limits.data_timeout", "must be at least 1s; RFC 5321 suggests 10m")
	}
}

func (a *Auth) validate(v *Validator) {
	if a.MaxFailures < 1 {
		v.Errorf("auth.max_failures", "%d is not allowed; write a number of 1 or more", a.MaxFailures)
	}
	if a.MaxAccountFailures < 1 {
		v.Errorf("auth.max_account_failures", "%d is not allowed; write a number of 1 or more, such as 20", a.MaxAccountFailures)
	}
	if a.Window.D() <= 0 {
		v.Errorf("auth.window", "must be more than 0; write a duration such as 10m")
	}
}

var labelRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// IsDomain reports whether s is a syntactically valid DNS domain name
// (one or more labels; "localhost" counts).
func IsDomain(s string) bool {
	s = strings.TrimSuffix(strings.ToLower(s), ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if !labelRE.MatchString(label) {
			return false
		}
	}
	return true
}
