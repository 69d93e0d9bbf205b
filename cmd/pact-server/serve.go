package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", "--addr 127.0.0.1:8080 --data DIR [flags]", stdout, stderr)
	var sf storeFlags
	var vf serverFlags
	sf.register(fs.FlagSet)
	vf.register(fs.FlagSet)
	addr := fs.String("addr", "127.0.0.1:8080", "listen address; loopback by default, put a TLS proxy in front for the public")
	noCutter := fs.Bool("no-cutter", false, "do not cut batches or clean up in this process (for replicas that only serve)")
	metricsAddr := fs.String("metrics", "", "also serve Prometheus metrics at /metrics on this private address, e.g. 127.0.0.1:9478 (never the public one: upload counters reveal which upload succeeded)")
	if err := fs.ParseNoArgs(args); err != nil {
		return err
	}
	log := sf.log.Logger(stderr)
	srv, store, err := newServer(ctx, &sf, &vf, log)
	if err != nil {
		return err
	}
	defer store.Close()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", *addr, err)
	}
	hs := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	if *metricsAddr != "" {
		mln, err := net.Listen("tcp", *metricsAddr)
		if err != nil {
			ln.Close()
			return fmt.Errorf("listening for metrics on %s: %w", *metricsAddr, err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", srv.MetricsHandler())
		// The same timeouts as the API: a scraper that stalls must not
		// hold a connection and its goroutine for ever.
		ms := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 60 * time.Second, IdleTimeout: 2 * time.Minute}
		go ms.Serve(mln)
		defer ms.Close()
		log.Info("serving metrics", "addr", mln.Addr().String())
	}
	bg, stopBG := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if !*noCutter {
			srv.Run(bg)
		}
	}()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		hs.Shutdown(shutdown)
	}()
	log.Info("serving", "addr", ln.Addr().String(), "data", sf.data, "postgres", sf.postgres != "")
	err = hs.Serve(ln)
	stopBG()
	<-done
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
