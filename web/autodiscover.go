package web

import (
	"encoding/xml"
	"errors"
	"net/http"
	"slices"
	"strings"

	"mailgate/internal/mailmsg"
)

// Outlook's POX Autodiscover ([MS-OXDSCLI] finds the URL, [MS-OXDISCO]
// the exchange): the client POSTs the user's address and names the
// response schema it takes; we answer the same servers as the
// autoconfig file.
const outlookResponseSchema = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"

// maxAutodiscoverBody bounds a request: a real one is a few hundred
// bytes.
const maxAutodiscoverBody = 64 << 10

// serveAutodiscover answers a POST with the request XML, or a GET (some
// clients probe with one) with the address, if any, in ?emailaddress=.
// The answer depends only on the address's domain, never on whether an
// account exists: an address in a local domain gets the settings, any
// other 404: what any web server without autodiscover answers, so
// clients take it as "not here" and try their next way of finding
// settings. An Error response (Exchange's ErrorCode 500, "address not
// found") is meant for mailboxes the server should know, and would
// speak about the address.
func (s *Server) serveAutodiscover(w http.ResponseWriter, r *http.Request) {
	cc := s.clientConfig()
	if cc == nil {
		http.NotFound(w, r)
		return
	}
	addr, code, msg := autodiscoverAddress(w, r)
	if code == 0 && addr != "" && !cc.serves(addr) {
		code, msg = http.StatusNotFound, "autodiscover: not a domain of this server"
	}
	if code != 0 {
		http.Error(w, msg, code)
		return
	}
	out, err := cc.AutodiscoverXML(addr)
	s.writeSetup(w, r, "text/xml; charset=utf-8", out, err)
}

// autodiscoverRequest is the POX request; element names match in any
// namespace (clients send the outlook requestschema/2006 one).
type autodiscoverRequest struct {
	XMLName xml.Name `xml:"Autodiscover"`
	Request struct {
		EMailAddress             string
		AcceptableResponseSchema string
	}
}

// autodiscoverAddress reads the address a request asks about ("" for a
// GET without one), or the status and text to refuse it with.
func autodiscoverAddress(w http.ResponseWriter, r *http.Request) (string, int, string) {
	if r.Method != http.MethodPost {
		return checkAddress(r.URL.Query().Get("emailaddress"), true)
	}
	var req autodiscoverRequest
	err := xml.NewDecoder(http.MaxBytesReader(w, r.Body, maxAutodiscoverBody)).Decode(&req)
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return "", http.StatusRequestEntityTooLarge, "autodiscover: request over 64 KB"
	case err != nil:
		return "", http.StatusBadRequest, "autodiscover: the request is not an <Autodiscover> XML document"
	}
	if schema := strings.TrimSpace(req.Request.AcceptableResponseSchema); schema != "" && schema != outlookResponseSchema {
		// mobilesync (ActiveSync) and other schemas: nothing we serve.
		return "", http.StatusNotFound, "autodiscover: only the outlook response schema (2006a) is served"
	}
	return checkAddress(req.Request.EMailAddress, false)
}

// checkAddress refuses what cannot be a mail address: no local part or
// domain, space or control characters, longer than RFC 5321 allows.
func checkAddress(addr string, optional bool) (string, int, string) {
	addr = strings.TrimSpace(addr)
	if addr == "" && optional {
		return "", 0, ""
	}
	at := strings.LastIndexByte(addr, '@')
	bad := at < 1 || at == len(addr)-1 || len(addr) > 254 ||
		strings.ContainsFunc(addr, func(r rune) bool { return r <= ' ' || r == 0x7f })
	if bad {
		return "", http.StatusBadRequest, "autodiscover: EMailAddress is not a mail address"
	}
	return addr, 0, ""
}

// serves reports whether addr is in one of the config's domains.
func (cc ClientConfig) serves(addr string) bool {
	d := mailmsg.Domain(addr)
	return slices.ContainsFunc(cc.Domains, func(l string) bool { return strings.EqualFold(strings.TrimSuffix(l, "."), d) })
}

// first is the preferred server of a type (imap, pop3, smtp): the config
// lists implicit TLS before STARTTLS.
func (cc ClientConfig) first(kind string) (ClientServer, bool) {
	for _, s := range slices.Concat(cc.Incoming, cc.Outgoing) {
		if s.Type == kind {
			return s, true
		}
	}
	return ClientServer{}, false
}

// xmlAutodiscover is the answer: the Response element is in the outlook
// schema's namespace, which its children inherit.
type xmlAutodiscover struct {
	XMLName  xml.Name `xml:"http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006 Autodiscover"`
	Response struct {
		XMLName xml.Name `xml:"http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a Response"`
		Account struct {
			AccountType string
			Action      string
			Protocol    []xmlProtocol
		}
	}
}

type xmlProtocol struct {
	Type         string
	Server       string
	Port         int
	LoginName    string `xml:",omitempty"`
	SPA          string
	SSL          string
	Encryption   string
	AuthRequired string
}

// AutodiscoverXML renders the outlook-schema answer for addr: one
// Protocol each for IMAP, POP3 and SMTP, the preferred listener of each
// (implicit TLS first), logins as the full address (omitted when addr is
// "": the client then uses the address the user typed).
//
// SSL is "on" for STARTTLS too: Thunderbird reads SSL "off" as a plain
// connection, and Outlook versions that ignore Encryption would then
// send the password without TLS (mailgate would refuse it, but too
// late). Encryption, which overrides SSL, says which: "SSL" is implicit
// TLS, "TLS" is STARTTLS. SPA (Microsoft's NTLM) is off: logins are
// plain passwords over TLS.
func (cc ClientConfig) AutodiscoverXML(addr string) ([]byte, error) {
	var doc xmlAutodiscover
	acc := &doc.Response.Account
	acc.AccountType, acc.Action = "email", "settings"
	for _, kind := range []string{"imap", "pop3", "smtp"} {
		s, ok := cc.first(kind)
		if !ok {
			continue
		}
		enc := "TLS"
		if s.Socket == "SSL" {
			enc = "SSL"
		}
		acc.Protocol = append(acc.Protocol, xmlProtocol{Type: strings.ToUpper(kind), Server: s.Hostname, Port: s.Port,
			LoginName: addr, SPA: "off", SSL: "on", Encryption: enc, AuthRequired: "on"})
	}
	b, err := xml.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	return append([]byte(xml.Header), append(b, '\n')...), nil
}
