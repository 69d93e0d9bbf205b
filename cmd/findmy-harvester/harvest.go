package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pact-findmy/pact-findmy/internal/cli"
	"github.com/pact-findmy/pact-findmy/internal/devicedb"
	"github.com/pact-findmy/pact-findmy/internal/ingest"
)

// outputFlags are the flags scan and replay share.
type outputFlags struct {
	db            string
	format        string
	minRSSI       int
	batchRows     int
	statsInterval time.Duration
	metrics       string
	log           cli.LogFlags
}

func (o *outputFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&o.db, "db", "", "SQLite contact log to add sightings to (created if missing)")
	fs.StringVar(&o.format, "format", "none", "stdout output: jsonl (one object per sighting heard) or none")
	fs.IntVar(&o.minRSSI, "min-rssi", -128, "drop sightings weaker than this many dBm; reports without RSSI (127) are kept")
	fs.IntVar(&o.batchRows, "batch", ingest.DefaultBatchRows, "distinct sightings per contact-log transaction")
	fs.DurationVar(&o.statsInterval, "stats-interval", 5*time.Second, "how often to log live statistics (0 disables)")
	fs.StringVar(&o.metrics, "metrics", "", "serve Prometheus metrics on this loopback address, e.g. 127.0.0.1:9477")
	o.log.Register(fs)
}

func (o *outputFlags) check() error {
	switch o.format {
	case "jsonl", "none":
	default:
		return cli.FlagErrorf("format", o.format, "want jsonl or none")
	}
	if o.minRSSI < -128 || o.minRSSI > 127 {
		return cli.FlagErrorf("min-rssi", o.minRSSI, "want -128..127 dBm")
	}
	if o.batchRows < 1 {
		return cli.FlagErrorf("batch", o.batchRows, "want at least 1")
	}
	return nil
}

// harvestFrom runs the ingest pipeline on src until it ends or ctx is
// done, with the outputs the flags ask for; the contact log is opened
// here and closed after the final flush.
func harvestFrom(ctx context.Context, src ingest.Source, o *outputFlags, stdout io.Writer, log *slog.Logger, live bool) (err error) {
	ln, err := listenMetrics(o.metrics)
	if err != nil {
		return err
	}
	served := false
	if ln != nil {
		// Closed here only if it is never served: stopping the server
		// closes it otherwise.
		defer func() {
			if !served {
				ln.Close()
			}
		}()
	}
	opts := ingest.Options{
		// A live scan is the device's own contact log, so it enforces
		// retention (spec §5.3); a replay may load an old capture for
		// analysis and keeps what it reads.
		Expire: live, Live: live,
		MinRSSI: o.minRSSI, BatchRows: o.batchRows, StatsInterval: o.statsInterval, Logger: log,
	}
	if o.format == "jsonl" {
		opts.JSONL = stdout
	}
	if o.db != "" {
		db, err := devicedb.Open(o.db)
		if err != nil {
			return fmt.Errorf("opening contact log %s: %w", o.db, err)
		}
		defer func() {
			if cerr := db.Close(); cerr != nil && err == nil {
				err = fmt.Errorf("closing the contact log: %w", cerr)
			}
		}()
		opts.DB = db
	}
	p, err := ingest.New(opts)
	if err != nil {
		return err
	}
	if ln != nil {
		reg := prometheus.NewRegistry()
		if err := p.Register(reg); err != nil {
			return err
		}
		stop := serveMetrics(ln, reg, log)
		served = true
		defer stop()
	}
	return p.Run(ctx, src)
}

// errNotLoopback is the error of a --metrics address off loopback.
var errNotLoopback = errors.New("not a loopback address")

// listenMetrics listens on addr, which must be a loopback address: the
// counters say how busy a place is, which is not for the network at
// large. An empty addr means no metrics and a nil listener.
func listenMetrics(addr string) (net.Listener, error) {
	if addr == "" {
		return nil, nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, cli.FlagErrorf("metrics", addr, "%w", err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, cli.FlagErrorf("metrics", addr, "%w: only 127.0.0.1, ::1 and localhost are allowed", errNotLoopback)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics %s: %w", addr, err)
	}
	// "localhost" comes from the resolver, which a stray /etc/hosts line
	// can point anywhere: check what was actually bound.
	if tcp, ok := ln.Addr().(*net.TCPAddr); !ok || !tcp.IP.IsLoopback() {
		ln.Close()
		return nil, cli.FlagErrorf("metrics", addr, "%w: bound %v", errNotLoopback, ln.Addr())
	}
	return ln, nil
}

// serveMetrics serves reg on ln and returns a function that stops the
// server.
func serveMetrics(ln net.Listener, reg *prometheus.Registry, log *slog.Logger) func() {
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
