// Package config is mailgate's YAML schema: the structs every other package
// reads, the embedded default installation, and validation that names the
// file, line and key of every problem. It imports no other mailgate package.
package config

import (
	_ "embed"
	"fmt"
	"os"
	"reflect"

	"go.yaml.in/yaml/v3"
)

//go:embed default.yaml
var defaultYAML []byte

// DefaultName is how the embedded default config is named in messages.
const DefaultName = "(embedded default)"

// Config is the whole configuration.
type Config struct {
	// Hostname is the name this server gives in greetings, EHLO and
	// Received headers.
	Hostname string `yaml:"hostname"`
	// DataDir holds the spool, mailboxes, accounts and generated keys.
	DataDir string `yaml:"data_dir"`
	// LocalDomains are the domains whose mail is stored here.
	LocalDomains []string     `yaml:"local_domains"`
	Log          Log          `yaml:"log"`
	TLS          TLS          `yaml:"tls"`
	Listeners    []Listener   `yaml:"listeners"`
	Limits       Limits       `yaml:"limits"`
	Auth         Auth         `yaml:"auth"`
	Queue        Queue        `yaml:"queue"`
	Delivery     Delivery     `yaml:"delivery"`
	Filters      Filters      `yaml:"filters"`
	Mailbox      Mailbox      `yaml:"mailbox"`
	Sieve        Sieve        `yaml:"sieve"`
	HTTP         HTTP         `yaml:"http"`
	Reports      Reports      `yaml:"reports"`
	MTASTS       MTASTSPolicy `yaml:"mta_sts"`
	Cluster      Cluster      `yaml:"cluster"`

	// File is where the config was read from (DefaultName if embedded).
	File string `yaml:"-"`
}

// Log chooses the log level and format.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // text or json
}

// TLS names the certificate used by every TLS listener: files, or
// certificates obtained over ACME. Empty means a self-signed certificate
// generated into the data directory.
type TLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// More are further pairs for the same names with another key type
	// (an ECDSA pair beside an RSA one): each client is given the
	// cheapest certificate it supports.
	More []CertPair `yaml:"more_certificates"`
	// ACME, when set, obtains and renews the certificate from an ACME
	// CA (Let's Encrypt) instead of reading files; nil without.
	ACME *ACME `yaml:"acme"`
}

// CertPair is a certificate file and its private key file (PEM).
type CertPair struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// CertFiles lists every configured certificate file, tls.cert_file first
// (none: the generated self-signed one is used).
func (t TLS) CertFiles() []string {
	if t.CertFile == "" {
		return nil
	}
	files := []string{t.CertFile}
	for _, p := range t.More {
		files = append(files, p.CertFile)
	}
	return files
}

// Listener protocols.
const (
	ProtoSMTP        = "smtp"        // MX: port 25, STARTTLS offered, no AUTH needed for local mail
	ProtoSubmission  = "submission"  // port 587, STARTTLS, AUTH required
	ProtoSubmissions = "submissions" // port 465, implicit TLS, AUTH required
	ProtoIMAP        = "imap"        // port 143, STARTTLS
	ProtoIMAPS       = "imaps"       // port 993, implicit TLS
	ProtoPOP3        = "pop3"        // port 110, STLS
	ProtoPOP3S       = "pop3s"       // port 995, implicit TLS
	ProtoHTTP        = "http"        // metrics, health, admin API; the send API for loopback clients
	ProtoAPI         = "api"         // the HTTP send API over TLS (docs/api.md)
	ProtoManageSieve = "managesieve" // port 4190, STARTTLS, Sieve script editing (RFC 5804)
)

// Listener is one socket mailgate serves.
type Listener struct {
	Name     string `yaml:"name"`
	Protocol string `yaml:"protocol"`
	Address  string `yaml:"address"`
	// Filters run on this listener's transactions, in this order.
	Filters []string `yaml:"filters"`
	// AllowInsecureAuth permits AUTH/LOGIN/USER without TLS on this
	// listener only, for loopback clients only; honoured only when the
	// listener's address is loopback.
	AllowInsecureAuth bool `yaml:"allow_insecure_auth"`
	// ProxyProtocol reads a PROXY protocol (v1 or v2) header from every
	// connection whose peer is in TrustedProxies (a load balancer), and
	// takes the client address from it; a connection from elsewhere that
	// sends such a header is closed.
	ProxyProtocol  bool     `yaml:"proxy_protocol"`
	TrustedProxies []string `yaml:"trusted_proxies"`
	// SocketMode and SocketOwner ("user" or "user:group") set the file
	// mode and owner of a unix: listener's socket, so that only the MTA
	// in front may connect (lmtp listeners only).
	SocketMode  string `yaml:"socket_mode"`
	SocketOwner string `yaml:"socket_owner"`
}

// Limits bound what one client can make the server do.
type Limits struct {
	MaxMessageSize      Size     `yaml:"max_message_size"`
	MaxRecipients       int      `yaml:"max_recipients"`
	MaxLineLength       int      `yaml:"max_line_length"`
	MaxConnections      int      `yaml:"max_connections"`
	MaxConnectionsPerIP int      `yaml:"max_connections_per_ip"`
	CommandTimeout      Duration `yaml:"command_timeout"`
	// DataTimeout bounds the whole content of one message (DATA, or every
	// BDAT chunk from the first to LAST), not each read: a sender
	// trickling a byte a second is cut off with 421 4.4.2 all the same.
	DataTimeout Duration `yaml:"data_timeout"`
	MaxErrors   int      `yaml:"max_errors"`
	// MaxReceivedHeaders is the most Received fields a message may carry,
	// ours included, before it is refused as a mail loop (554 5.4.6).
	MaxReceivedHeaders int `yaml:"max_received_headers"`
}

// Auth throttles password guessing: after MaxFailures failures from one IP
// within Window, that IP is refused for Lockout; after MaxAccountFailures
// failures on one account from any addresses, the account is refused for
// Lockout except from addresses that logged into it before. Each failure
// before that is answered after Delay.
type Auth struct {
	MaxFailures        int      `yaml:"max_failures"`
	MaxAccountFailures int      `yaml:"max_account_failures"`
	Window             Duration `yaml:"window"`
	Lockout            Duration `yaml:"lockout"`
	Delay              Duration `yaml:"delay"`
	// LDAP, when set, is a directory of accounts used besides
	// accounts.yaml.
	LDAP *LDAP `yaml:"ldap"`
}

// HTTP configures the metrics/health/admin listener.
type HTTP struct {
	// TokenFile holds a bearer token required for the admin API when the
	// HTTP listener is not on loopback.
	TokenFile string `yaml:"token_file"`
	// MinFreeDisk is the free space below which /readyz fails.
	MinFreeDisk Size `yaml:"min_free_disk"`
	// Admins are the accounts that may log in to the web console's
	// operator pages (/admin/); every account may use /account/.
	Admins []string `yaml:"admins"`
	// SessionIdle and SessionLifetime end a console session after that
	// long without a request, and that long after its login.
	SessionIdle     Duration `yaml:"session_idle"`
	SessionLifetime Duration `yaml:"session_lifetime"`
}

// Defaults returns the values used for every key a file leaves out.
func Defaults() *Config {
	return &Config{
		Hostname: "localhost",
		DataDir:  "./mailgate-data",
		Log:      Log{Level: "info", Format: "text"},
		Limits: Limits{
			MaxMessageSize:      25 << 20,
			MaxRecipients:       100,
			MaxLineLength:       4096,
			MaxConnections:      1000,
			MaxConnectionsPerIP: 50,
			CommandTimeout:      Duration(5 * 60e9),
			DataTimeout:         Duration(10 * 60e9),
			MaxErrors:           10,
			MaxReceivedHeaders:  50,
		},
		Auth:     Auth{MaxFailures: 5, MaxAccountFailures: 20, Window: Duration(10 * 60e9), Lockout: Duration(15 * 60e9), Delay: Duration(1e9)},
		Queue:    defaultQueue(),
		Delivery: defaultDelivery(),
		Mailbox:  defaultMailbox(),
		Sieve:    defaultSieve(),
		HTTP:     HTTP{MinFreeDisk: 100 << 20, SessionIdle: Duration(30 * 60e9), SessionLifetime: Duration(12 * 3600e9)},
		MTASTS:   MTASTSPolicy{MaxAge: Duration(7 * 24 * 3600e9)},
	}
}

// Load reads and validates the file at path, the filters' blocks by reg.
// Every problem is returned at once in an *Errors.
func Load(path string, reg FilterRegistry) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &fileError{path: path, err: err}
	}
	return Parse(path, data, reg)
}

// Default returns the embedded default config, its filters' blocks
// decoded by reg.
func Default(reg FilterRegistry) *Config {
	c, err := Parse(DefaultName, defaultYAML, reg)
	if err != nil {
		panic("embedded default config is invalid: " + err.Error())
	}
	return c
}

// DefaultYAML returns the text of the embedded default config.
func DefaultYAML() []byte { return defaultYAML }

// Parse decodes and validates YAML text; name is used in messages. reg
// decodes and checks each filter's block; nil knows no filter.
func Parse(name string, data []byte, reg FilterRegistry) (*Config, error) {
	if reg == nil {
		reg = noFilters{}
	}
	var root yaml.Node
	errs := &Errors{}
	if err := yaml.Unmarshal(data, &root); err != nil {
		line, msg := syntaxProblem(err)
		errs.add(name, problemLine(data, line, msg), "(file)", "not valid YAML: "+msg)
		return nil, errs
	}
	c := Defaults()
	c.File = name
	d := &decoder{file: name, lines: map[string]int{}, errs: errs}
	c.Filters.names = reg.FilterNames()
	d.decode(&root, reflect.ValueOf(c).Elem(), "")
	v := &Validator{file: name, lines: d.lines, errs: errs}
	c.validate(v)
	c.Filters.check(v, d, c, reg)
	if len(errs.Problems) > 0 {
		errs.sort()
		return nil, errs
	}
	return c, nil
}

// noFilters is the registry of a program without filters.
type noFilters struct{}

func (noFilters) FilterNames() []string          { return nil }
func (noFilters) CheckFilter(b *FilterBlock) any { return nil }

// fileError is a config file that cannot be read; it unwraps to the
// os error so callers can test for os.ErrNotExist.
type fileError struct {
	path string
	err  error
}

func (e *fileError) Error() string {
	return fmt.Sprintf("%s: cannot read the config file (%s); give the path of a readable YAML file", e.path, Reason(e.err))
}

func (e *fileError) Unwrap() error { return e.err }
