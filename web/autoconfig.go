package web

import (
	"encoding/xml"
	"net/http"
)

// ClientConfig describes the mail services for Thunderbird's autoconfig
// file (https://wiki.mozilla.org/Thunderbird:Autoconfiguration) and
// Outlook's autodiscover answer, so that a user types an address and
// password and the client finds the rest.
type ClientConfig struct {
	// Domains are the mail domains served; the first one names the
	// provider.
	Domains []string
	// Incoming are IMAP and POP3 services, Outgoing the submission ones,
	// each in the order a client should prefer them.
	Incoming, Outgoing []ClientServer
}

// ClientServer is one service a client can use.
type ClientServer struct {
	Type     string // imap, pop3 or smtp
	Hostname string
	Port     int
	Socket   string // SSL (implicit TLS) or STARTTLS
}

// SetAutoconfig serves cc at /.well-known/autoconfig/mail/config-v1.1.xml
// and /mail/config-v1.1.xml (the path under autoconfig.DOMAIN), and as
// the autodiscover answer at /autodiscover/autodiscover.xml; until then
// they answer 404. A later call replaces it (config reload).
func (s *Server) SetAutoconfig(cc ClientConfig) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.autoconfig = &cc
}

func (s *Server) serveAutoconfig(w http.ResponseWriter, r *http.Request) {
	cc := s.clientConfig()
	if cc == nil {
		http.NotFound(w, r)
		return
	}
	out, err := cc.XML()
	s.writeSetup(w, r, "application/xml; charset=utf-8", out, err)
}

// clientConfig is what SetAutoconfig gave last, or nil.
func (s *Server) clientConfig() *ClientConfig {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.autoconfig
}

// writeSetup sends a rendered set-up file (autoconfig, autodiscover), or
// logs why it could not be rendered and answers 500.
func (s *Server) writeSetup(w http.ResponseWriter, r *http.Request, contentType string, out []byte, err error) {
	if err != nil {
		s.log.Error("client set-up file", "path", r.URL.Path, "err", err)
		http.Error(w, "client set-up unavailable", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.Write(out)
}

type xmlClientConfig struct {
	XMLName  xml.Name    `xml:"clientConfig"`
	Version  string      `xml:"version,attr"`
	Provider xmlProvider `xml:"emailProvider"`
}

type xmlProvider struct {
	ID       string      `xml:"id,attr"`
	Domains  []string    `xml:"domain"`
	Display  string      `xml:"displayName"`
	Short    string      `xml:"displayShortName"`
	Incoming []xmlServer `xml:"incomingServer"`
	Outgoing []xmlServer `xml:"outgoingServer"`
}

type xmlServer struct {
	Type     string `xml:"type,attr"`
	Hostname string `xml:"hostname"`
	Port     int    `xml:"port"`
	Socket   string `xml:"socketType"`
	Auth     string `xml:"authentication"`
	Username string `xml:"username"`
}

// XML renders the config-v1.1.xml document. Logins are full addresses
// (%EMAILADDRESS%), passwords go over TLS only.
func (cc ClientConfig) XML() ([]byte, error) {
	p := xmlProvider{Domains: cc.Domains}
	if len(cc.Domains) > 0 {
		p.ID, p.Display, p.Short = cc.Domains[0], cc.Domains[0], cc.Domains[0]
	}
	conv := func(list []ClientServer) []xmlServer {
		var out []xmlServer
		for _, s := range list {
			out = append(out, xmlServer{Type: s.Type, Hostname: s.Hostname, Port: s.Port, Socket: s.Socket,
				Auth: "password-cleartext", Username: "%EMAILADDRESS%"})
		}
		return out
	}
	p.Incoming, p.Outgoing = conv(cc.Incoming), conv(cc.Outgoing)
	b, err := xml.MarshalIndent(xmlClientConfig{Version: "1.1", Provider: p}, "", "  ")
	if err != nil {
		return nil, err
	}
	return append([]byte(xml.Header), append(b, '\n')...), nil
}
