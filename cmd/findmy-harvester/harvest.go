package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pact-findmy/pact-findmy/internal/cli"
	"github.com/pact-findmy/pact-findmy/internal/devicedb"
	"github.com/pact-findmy/pact-findmy/internal/ingest"
	"github.com/pact-findmy/pact-findmy/internal/metricsserve"
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
	ln, err := metricsserve.Listen(o.metrics)
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
		stop := metricsserve.Serve(ln, reg, log)
		served = true
		defer stop()
	}
	return p.Run(ctx, src)
}
