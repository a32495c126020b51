// Package metrics is mailgate's HTTP side: one Prometheus registry served
// on /metrics, liveness and readiness on /healthz and /readyz, the admin
// API that other packages mount under /admin/, and Thunderbird's
// autoconfig file; plus the server-wide series (config reloads,
// certificate expiry, spool disk space). Any package may import it; it
// imports no other mailgate package.
package metrics

import (
	"context"
	"crypto/subtle"
	"errors"
	"log/slog"
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

// guard admits admin requests from loopback when no token is set, and
// otherwise only with "Authorization: Bearer TOKEN".
func (s *Server) guard(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.token != "" {
			got := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
			if subtle.ConstantTimeCompare([]byte(got), []byte(s.token)) != 1 {
				http.Error(w, "admin API: missing or wrong bearer token (see http.token_file)", http.StatusUnauthorized)
				return
			}
		} else if !fromLoopback(r) {
			http.Error(w, "admin API: only reachable from loopback unless http.token_file is set", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func fromLoopback(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	ip := net.ParseIP(host)
	return err == nil && ip != nil && ip.IsLoopback()
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
