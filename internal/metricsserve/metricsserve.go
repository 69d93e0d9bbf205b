// Package metricsserve serves a command's Prometheus metrics on a
// loopback address: the counters of a scanner or a repeater say how busy a
// place is, which is not for the network at large.
package metricsserve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pact-findmy/pact-findmy/internal/cli"
)

// ErrNotLoopback is the error of a --metrics address off loopback.
var ErrNotLoopback = errors.New("not a loopback address")

// Listen listens on addr, the value of a --metrics flag, which must be a
// loopback address. An empty addr means no metrics and a nil listener.
func Listen(addr string) (net.Listener, error) {
	if addr == "" {
		return nil, nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, cli.FlagErrorf("metrics", addr, "%w", err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, cli.FlagErrorf("metrics", addr, "%w: only 127.0.0.1, ::1 and localhost are allowed", ErrNotLoopback)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics %s: %w", addr, err)
	}
	// "localhost" comes from the resolver, which a stray /etc/hosts line
	// can point anywhere: check what was actually bound.
	if tcp, ok := ln.Addr().(*net.TCPAddr); !ok || !tcp.IP.IsLoopback() {
		ln.Close()
		return nil, cli.FlagErrorf("metrics", addr, "%w: bound %v", ErrNotLoopback, ln.Addr())
	}
	return ln, nil
}

// Serve serves reg at /metrics on ln and returns a function that stops the
// server.
func Serve(ln net.Listener, reg *prometheus.Registry, log *slog.Logger) func() {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server", "err", err)
		}
	}()
	log.Info("serving metrics", "addr", ln.Addr().String())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}
}
