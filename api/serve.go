package api

import (
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"time"
)

// NewHTTPServer is the server of an api listener: bounded header time, so
// a slow client cannot hold a connection before it is authenticated.
func NewHTTPServer(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 5 * time.Minute,
		WriteTimeout: 5 * time.Minute, IdleTimeout: time.Minute, MaxHeaderBytes: 64 << 10}
}

// ServeTLS answers on ln over TLS with cfg (the server's certificate)
// until hs shuts down.
func ServeTLS(hs *http.Server, ln net.Listener, cfg *tls.Config) error {
	c := cfg.Clone()
	c.NextProtos = []string{"h2", "http/1.1"}
	err := hs.Serve(tls.NewListener(ln, c))
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
