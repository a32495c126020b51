package config

import (
	"fmt"
	"strings"
)

// Mailbox configures local mail storage (<data_dir>/mail) and the IMAP
// server that reads it.
type Mailbox struct {
	// DefaultQuota is each account's storage limit (0: unlimited). An
	// account may override it.
	DefaultQuota Size `yaml:"default_quota"`
	// CatchAll maps a local domain to the account that receives mail for
	// its unknown local parts, such as {example.com: admin@example.com}.
	CatchAll map[string]string `yaml:"catch_all"`
	// IMAPMaxLiteral bounds one IMAP literal (an APPENDed message); a
	// client that announces a bigger one is disconnected with * BYE.
	IMAPMaxLiteral Size `yaml:"imap_max_literal"`
	// IMAPIdleTimeout closes an IMAP connection silent for this long
	// (RFC 9051 asks for at least 30m).
	IMAPIdleTimeout Duration `yaml:"imap_idle_timeout"`
	// IMAPMaxConnections bounds concurrent IMAP connections (IMAP and
	// IMAPS together).
	IMAPMaxConnections int `yaml:"imap_max_connections"`
	// IMAPMaxConnectionsPerIP bounds the IMAP connections from one client
	// address, so one address cannot fill imap_max_connections.
	IMAPMaxConnectionsPerIP int `yaml:"imap_max_connections_per_ip"`
	// IMAPMaxUserIPConnections bounds the logged-in IMAP sessions of one
	// account from one address (Dovecot's mail_max_userip_connections).
	IMAPMaxUserIPConnections int `yaml:"imap_max_user_ip_connections"`
	// IMAPLoginTimeout closes an IMAP connection that has not logged in
	// this long after connecting.
	IMAPLoginTimeout Duration `yaml:"imap_login_timeout"`
	// IMAPSessionRecheck is how often a logged-in IMAP session waiting
	// for its client (IDLE, NOTIFY) checks that its account is still
	// enabled, so disabling an account ends its open sessions within it.
	IMAPSessionRecheck Duration `yaml:"imap_session_recheck"`
	// HeaderCache is the memory kept for message headers that IMAP FETCH
	// and SEARCH read again and again (0: the store's default, 32MB).
	HeaderCache Size `yaml:"header_cache"`
}

func defaultMailbox() Mailbox {
	return Mailbox{
		DefaultQuota:       1 << 30,
		IMAPMaxLiteral:     50 << 20,
		IMAPIdleTimeout:    Duration(30 * 60e9),
		IMAPMaxConnections: 500,

		IMAPMaxConnectionsPerIP:  50,
		IMAPMaxUserIPConnections: 10,
		IMAPLoginTimeout:         Duration(60e9),
		IMAPSessionRecheck:       Duration(30e9),
		HeaderCache:              32 << 20,
	}
}

func (m *Mailbox) validate(v *Validator, c *Config) {
	local := map[string]bool{}
	for _, d := range c.LocalDomains {
		local[strings.ToLower(d)] = true
	}
	for d, acct := range m.CatchAll {
		path := fmt.Sprintf("mailbox.catch_all.%s", d)
		if !local[strings.ToLower(d)] {
			v.Errorf(path, "%q is not in local_domains; add it there, or remove this entry", d)
		}
		if at := strings.LastIndexByte(acct, '@'); at < 1 || !IsDomain(acct[at+1:]) {
			v.Errorf(path, "%q is not an address; write the account that gets the mail, such as admin@%s", acct, d)
		}
	}
	if m.DefaultQuota < 0 {
		v.Errorf("mailbox.default_quota", "must not be negative; write a size such as 1GB, or 0 for no limit")
	}
	if m.IMAPMaxLiteral < 1024 {
		v.Errorf("mailbox.imap_max_literal", "%d bytes is too small for any message; write a size such as 50MB", m.IMAPMaxLiteral)
	}
	if m.IMAPIdleTimeout.D() < 60e9 {
		v.Errorf("mailbox.imap_idle_timeout", "must be at least 1m; RFC 9051 suggests 30m")
	}
	if m.HeaderCache < 0 {
		v.Errorf("mailbox.header_cache", "must not be negative; write a size such as 32MB")
	}
	if m.IMAPMaxConnections < 1 {
		v.Errorf("mailbox.imap_max_connections", "%d is not allowed; write a number of 1 or more", m.IMAPMaxConnections)
	}
	m.validateIMAPLimits(v)
}

// validateIMAPLimits checks the per-address limits, the login timeout and
// the session recheck.
// A per-address limit left at its default shrinks to fit a smaller
// imap_max_connections (or per-address limit) instead of failing.
func (m *Mailbox) validateIMAPLimits(v *Validator) {
	if !v.Set("mailbox.imap_max_connections_per_ip") {
		m.IMAPMaxConnectionsPerIP = min(m.IMAPMaxConnectionsPerIP, max(m.IMAPMaxConnections, 1))
	}
	if !v.Set("mailbox.imap_max_user_ip_connections") {
		m.IMAPMaxUserIPConnections = min(m.IMAPMaxUserIPConnections, max(m.IMAPMaxConnectionsPerIP, 1))
	}
	if m.IMAPMaxConnectionsPerIP < 1 || m.IMAPMaxConnectionsPerIP > m.IMAPMaxConnections {
		v.Errorf("mailbox.imap_max_connections_per_ip", "%d is not allowed; write a number from 1 to imap_max_connections (%d)",
			m.IMAPMaxConnectionsPerIP, m.IMAPMaxConnections)
	}
	if m.IMAPMaxUserIPConnections < 1 || m.IMAPMaxUserIPConnections > m.IMAPMaxConnectionsPerIP {
		v.Errorf("mailbox.imap_max_user_ip_connections", "%d is not allowed; write a number from 1 to imap_max_connections_per_ip (%d)",
			m.IMAPMaxUserIPConnections, m.IMAPMaxConnectionsPerIP)
	}
	if d := m.IMAPLoginTimeout.D(); d < 5e9 || d > m.IMAPIdleTimeout.D() {
		v.Errorf("mailbox.imap_login_timeout", "must be from 5s to imap_idle_timeout; write a duration such as 60s")
	}
	if d := m.IMAPSessionRecheck.D(); d < 1e9 || d > m.IMAPIdleTimeout.D() {
		v.Errorf("mailbox.imap_session_recheck", "must be from 1s to imap_idle_timeout; write a duration such as 30s")
	}
}
