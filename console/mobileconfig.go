package console

import (
	"crypto/sha256"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"strings"
)

// appleProfile sends the logged-in user an Apple configuration profile
// (.mobileconfig) for their own account: iPhone, iPad and Mac Mail find
// no autoconfig file, but install such a profile in a few taps. It
// holds no password (the device asks for it when installing) and is not
// signed, so the device calls it unverified.
func (c *Console) appleProfile(w http.ResponseWriter, r *http.Request, s *session) {
	in, out, ok := profileServers(c.setupServers())
	if !ok {
		c.fail(w, r, s, http.StatusNotFound, "This server has no IMAP or POP3 listener, or no submission listener: a profile would have nothing to set up.")
		return
	}
	body, err := mobileconfig(s.account, in, out)
	if err != nil {
		c.internal(w, r, s, "make the Apple profile", err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/x-apple-aspen-config")
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": profileFileName(s.account)}))
	w.Write(body)
}

// setupServers are the client listeners (the autoconfig file's), or
// none when the console was given no Setup.
func (c *Console) setupServers() []Server {
	if c.opts.Setup == nil {
		return nil
	}
	return c.opts.Setup()
}

// profileServers picks what the profile names: IMAP if offered, else
// POP3, and SMTP submission; the first of each, as Setup lists implicit
// TLS (993, 995, 465) before STARTTLS.
func profileServers(servers []Server) (in, out Server, ok bool) {
	first := func(kind string) (Server, bool) {
		i := slices.IndexFunc(servers, func(s Server) bool { return s.Type == kind })
		if i < 0 {
			return Server{}, false
		}
		return servers[i], true
	}
	in, ok = first("imap")
	if !ok {
		in, ok = first("pop3")
	}
	out, okOut := first("smtp")
	return in, out, ok && okOut
}

// mobileconfig is the profile of account: one com.apple.mail.managed
// payload, logins as the full address, passwords asked on the device.
// Identifier and UUIDs are derived from the host and the account, so
// installing a newer download replaces the profile instead of adding a
// second account.
func mobileconfig(account string, in, out Server) ([]byte, error) {
	id := reverseDNS(in.Hostname) + ".mailgate." + profileTag(in.Hostname, account, "id")
	kind := "EmailTypeIMAP"
	if in.Type == "pop3" {
		kind = "EmailTypePOP"
	}
	mail := plistDict{
		{"EmailAccountDescription", account},
		{"EmailAccountType", kind},
		{"EmailAddress", account},
		{"IncomingMailServerAuthentication", "EmailAuthPassword"},
		{"IncomingMailServerHostName", in.Hostname},
		{"IncomingMailServerPortNumber", in.Port},
		{"IncomingMailServerUseSSL", in.Socket == "SSL"},
		{"IncomingMailServerUsername", account},
		{"OutgoingMailServerAuthentication", "EmailAuthPassword"},
		{"OutgoingMailServerHostName", out.Hostname},
		{"OutgoingMailServerPortNumber", out.Port},
		{"OutgoingMailServerUseSSL", out.Socket == "SSL"},
		{"OutgoingMailServerUsername", account},
		{"OutgoingPasswordSameAsIncomingPassword", true},
		{"PayloadDisplayName", "Mail account " + account},
		{"PayloadIdentifier", id + ".mail"},
		{"PayloadType", "com.apple.mail.managed"},
		{"PayloadUUID", profileUUID(in.Hostname, account, "mail")},
		{"PayloadVersion", 1},
	}
	return marshalPlist(plistDict{
		{"PayloadContent", []plistDict{mail}},
		{"PayloadDescription", "Sets up " + account + " on " + in.Hostname + ". Mail asks for your password when you install it."},
		{"PayloadDisplayName", "Mail: " + account},
		{"PayloadIdentifier", id},
		{"PayloadRemovalDisallowed", false},
		{"PayloadType", "Configuration"},
		{"PayloadUUID", profileUUID(in.Hostname, account, "profile")},
		{"PayloadVersion", 1},
	})
}

// profileHash digests what names one payload of one account's profile:
// the host, the account (case-blind, as logins are) and the part.
func profileHash(host, account, part string) [32]byte {
	return sha256.Sum256([]byte("mailgate apple profile\x00" + strings.ToLower(host) + "\x00" + strings.ToLower(account) + "\x00" + part))
}

// profileUUID is an RFC 9562 version 8 (custom) UUID from profileHash:
// the same for every download, different for every account and host.
func profileUUID(host, account, part string) string {
	h := profileHash(host, account, part)
	h[6] = h[6]&0x0f | 0x80 // version 8
	h[8] = h[8]&0x3f | 0x80 // variant 10
	return fmt.Sprintf("%X-%X-%X-%X-%X", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

// profileTag is a short hex name for the account in the identifier:
// the address itself may hold characters a reverse-DNS name may not.
func profileTag(host, account, part string) string {
	h := profileHash(host, account, part)
	return fmt.Sprintf("%x", h[:8])
}

// reverseDNS turns mail.example.com into com.example.mail, the form
// Apple's payload identifiers take.
func reverseDNS(host string) string {
	labels := strings.Split(strings.ToLower(strings.TrimSuffix(host, ".")), ".")
	slices.Reverse(labels)
	return strings.Join(labels, ".")
}

// profileFileName names the download after the account, in characters
// every browser and file system keep.
func profileFileName(account string) string {
	name := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-':
			return r
		}
		return '_'
	}, strings.ReplaceAll(account, "@", "-at-"))
	return "mail-" + name + ".mobileconfig"
}
