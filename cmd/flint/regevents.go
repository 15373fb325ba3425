package main

import (
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/flintml/flint/models/regevents"
)

// watchTokenEnv holds the bearer token flint serve --watch-url sends.
const watchTokenEnv = "FLINT_WATCH_TOKEN"

// serveRegistryEvents serves hub at http://addr/v1/registry/events, behind
// the cluster secret as a bearer token when there is one; stop closes it.
func serveRegistryEvents(addr string, hub *regevents.Hub, secret string, logger *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--registry-events: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/registry/events", func(w http.ResponseWriter, r *http.Request) {
		if secret != "" && subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte("Bearer "+secret)) != 1 {
			http.Error(w, "this stream needs the cluster secret as a bearer token (flint serve reads it from $"+watchTokenEnv+")", http.StatusUnauthorized)
			return
		}
		hub.ServeHTTP(w, r)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	go func() { _ = srv.Serve(ln) }()
	logger.Info("registry events", "url", "http://"+ln.Addr().String()+"/v1/registry/events")
	return func() { _ = srv.Close() }, nil
}
