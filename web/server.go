// Package web is mailgate's HTTP listener: the Prometheus registry served
// on /metrics, liveness and readiness on /healthz and /readyz,
// Thunderbird's autoconfig file and Outlook's autodiscover answer, and
// the admin API under /admin/ (the queue's handler, guarded: loopback
// only or a bearer token). It reads the packages it serves; none of them
// imports it.
package web

import (
	"context"
	"crypto/subtle"
	"errors"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Check is one readiness condition; a non-nil error makes /readyz fail.
type Check struct {
	Name string
	Func func(ctx context.Context) error
}

// Server is the HTTP listener.
type Server struct {
	mux   *http.ServeMux
	token string
	log   *slog.Logger
	srv   *http.Server

	mu         sync.Mutex
	checks     []Check
	autoconfig *ClientConfig
}

// New serves reg's metrics. token, if not empty, is required as a bearer
// token on /admin/.
func New(reg *prometheus.Registry, token string, log *slog.Logger) *Server {
	s := &Server{mux: http.NewServeMux(), token: token, log: log}
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok\n"))
	})
	s.mux.HandleFunc("GET /readyz", s.ready)
	s.mux.HandleFunc("GET /.well-known/autoconfig/mail/config-v1.1.xml", s.serveAutoconfig)
	s.mux.HandleFunc("GET /mail/config-v1.1.xml", s.serveAutoconfig)
	// Outlook asks in lower case; Exchange's documentation and some
	// clients capitalise.
	for _, p := range []string{"/autodiscover/autodiscover.xml", "/Autodiscover/Autodiscover.xml"} {
		s.mux.HandleFunc("GET "+p, s.serveAutodiscover)
		s.mux.HandleFunc("POST "+p, s.serveAutodiscover)
	}
	return s
}

// AddCheck registers a readiness condition.
func (s *Server) AddCheck(c Check) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checks = append(s.checks, c)
}

// Handle mounts h at pattern; patterns under /admin/ are guarded.
func (s *Server) Handle(pattern string, h http.Handler) {
	if strings.Contains(pattern, "/admin/") {
		h = s.guard(h)
	}
	s.mux.Handle(pattern, h)
}

// HandleOwnAuth mounts h at pattern without the admin API's guard: for
// a handler that logs its own users in and checks its own CSRF tokens
// (the web console under /admin/ and /account/). The admin API's own,
// longer patterns (/admin/queue) still win and stay guarded.
func (s *Server) HandleOwnAuth(pattern string, h http.Handler) {
	s.mux.Handle(pattern, h)
}

// guard admits an admin request only if it cannot have been sent by a
// web page the operator happens to visit (the threat model is in
// docs/operations.md, "Admin API"):
//
//   - with http.token_file, only with "Authorization: Bearer TOKEN" (a
//     page cannot add that header to a cross-origin request without a
//     CORS preflight, which this server never answers);
//   - without it, only from a loopback client that names a loopback host
//     (localhost, 127.0.0.1, [::1]): a DNS-rebinding page names its own;
//   - never with an Origin other than the server's own, nor with
//     Sec-Fetch-Site other than same-origin or none;
//   - a state-changing request (anything but GET and HEAD) only with
//     Content-Type: application/json, which a page can send cross-origin
//     only after a preflight: forms (urlencoded, multipart) and text/plain
//     go without one.
func (s *Server) guard(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if code, msg := s.refuseAdmin(r); code != 0 {
			http.Error(w, "admin API: "+msg, code)
			return
		}
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, maxAdminBody)
		}
		h.ServeHTTP(w, r)
	})
}

// maxAdminBody bounds an admin request's body (the API takes a few
// fields).
const maxAdminBody = 64 << 10

// refuseAdmin returns the status and reason to refuse r with, or 0.
func (s *Server) refuseAdmin(r *http.Request) (int, string) {
	if s.token != "" {
		got := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		if subtle.ConstantTimeCompare([]byte(got), []byte(s.token)) != 1 {
			return http.StatusUnauthorized, "missing or wrong bearer token (see http.token_file)"
		}
	} else {
		if !fromLoopback(r) {
			return http.StatusForbidden, "only reachable from loopback unless http.token_file is set"
		}
		if !loopbackHost(r.Host) {
			return http.StatusForbidden, "without http.token_file the Host must be localhost or a loopback address"
		}
	}
	if o := r.Header.Get("Origin"); o != "" && o != "http://"+r.Host && o != "https://"+r.Host {
		return http.StatusForbidden, "cross-origin requests are refused (Origin: " + strings.ToValidUTF8(o, "?") + ")"
	}
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return http.StatusForbidden, "cross-site requests are refused (Sec-Fetch-Site: " + strings.ToValidUTF8(site, "?") + ")"
	}
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return 0, ""
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		return http.StatusUnsupportedMediaType, "a " + r.Method + " must be sent with Content-Type: application/json (form and text bodies are refused)"
	}
	return 0, ""
}

func fromLoopback(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	ip := net.ParseIP(host)
	return err == nil && ip != nil && ip.IsLoopback()
}

// loopbackHost reports whether a Host header names this machine's
// loopback: localhost or a loopback address, with or without a port.
func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	s.mu.Lock()
	checks := append([]Check(nil), s.checks...)
	s.mu.Unlock()
	var failed []string
	for _, c := range checks {
		if err := c.Func(ctx); err != nil {
			failed = append(failed, c.Name+": "+err.Error())
		}
	}
	if len(failed) > 0 {
		http.Error(w, "not ready\n"+strings.Join(failed, "\n"), http.StatusServiceUnavailable)
		return
	}
	w.Write([]byte("ready\n"))
}

// Serve answers on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	s.srv = &http.Server{Handler: s.mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute}
	srv := s.srv
	s.mu.Unlock()
	err := srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops the server gracefully.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	srv := s.srv
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	return srv.Shutdown(ctx)
}
