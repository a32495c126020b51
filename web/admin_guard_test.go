package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestAdminGuardWithToken: the right token does not let a request a web
// page could send through (foreign Origin, form body), and a client off
// loopback with the token and a public Host name is served.
func TestAdminGuardWithToken(t *testing.T) {
	t.Parallel()
	s := New(prometheus.NewRegistry(), "s3cret", quiet())
	s.Handle("/admin/queue/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "done\n") }))
	tests := []struct {
		name, method, ctype, origin, remote, host string
		want                                      int
	}{
		{"JSON from afar", "POST", "application/json", "", "192.0.2.1:4000", "mail.example.com:9190", 200},
		{"reading from afar", "GET", "", "", "192.0.2.1:4000", "mail.example.com:9190", 200},
		{"foreign Origin", "POST", "application/json", "http://evil.example", "192.0.2.1:4000", "mail.example.com:9190", 403},
		{"same Origin", "POST", "application/json", "http://mail.example.com:9190", "192.0.2.1:4000", "mail.example.com:9190", 200},
		{"form", "POST", "application/x-www-form-urlencoded", "", "192.0.2.1:4000", "mail.example.com:9190", 415},
		{"JSON with charset", "POST", "application/json; charset=utf-8", "", "127.0.0.1:4000", "localhost:9190", 200},
	}
	for _, tc := range tests {
		r := httptest.NewRequest(tc.method, "http://"+tc.host+"/admin/queue/flush", strings.NewReader("{}"))
		r.RemoteAddr, r.Host = tc.remote, tc.host
		r.Header.Set("Authorization", "Bearer s3cret")
		if tc.ctype != "" {
			r.Header.Set("Content-Type", tc.ctype)
		}
		if tc.origin != "" {
			r.Header.Set("Origin", tc.origin)
		}
		w := httptest.NewRecorder()
		s.mux.ServeHTTP(w, r)
		if w.Code != tc.want {
			t.Errorf("%s: %d %q, want %d", tc.name, w.Code, w.Body.String(), tc.want)
		}
	}
}
