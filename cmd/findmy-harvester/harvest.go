package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pact-findmy/pact-findmy/hci"
	"github.com/pact-findmy/pact-findmy/internal/cli"
	"github.com/pact-findmy/pact-findmy/internal/harvest"
)

// source is a report source with counters of its own to show.
type source interface {
	hci.ReportSource
	// stats returns extra key/value pairs for the statistics log line
	// (capture errors, adapter state, ...).
	stats() []any
	// frameErrors is how many records or events the source skipped as
	// malformed.
	frameErrors() uint64
	// scanning reports adapter state for the metrics; false for captures.
	scanning() bool
}

// liveFlushInterval bounds how long a sighting heard on a live adapter
// waits before it is written.
const liveFlushInterval = time.Second

// harvestFrom runs the pipeline on src until it ends or ctx is done, then
// flushes everything and logs a summary.
func harvestFrom(ctx context.Context, src source, o *outputFlags, stdout io.Writer, log *slog.Logger, live bool) error {
	var store *storeWriter
	if o.db != "" {
		var err error
		// A live scan is the device's own contact log, so it enforces
		// retention (spec §5.3); a replay may load an old capture for
		// analysis and keeps what it reads.
		if store, err = openStore(o.db, live, log); err != nil {
			return err
		}
	}
	p := newPipeline(o, stdout, store)
	stopMetrics, err := serveMetrics(o.metrics, p, src, log)
	if err != nil {
		if store != nil {
			store.close()
		}
		return err
	}
	defer stopMetrics()

	start := time.Now()
	statsDone := make(chan struct{})
	statsStop := make(chan struct{})
	go func() {
		defer close(statsDone)
		logStats(p, src, o.statsInterval, log, statsStop)
	}()
	// A failed periodic flush (the database, or stdout gone) stops the
	// source like a signal would, and becomes the command's error.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	flushStop := make(chan struct{})
	flushDone := make(chan error, 1)
	if live {
		go func() {
			err := p.flushEvery(liveFlushInterval, flushStop)
			if err != nil {
				cancel(err)
			}
			flushDone <- err
		}()
	} else {
		flushDone <- nil
	}
	runErr := src.Reports(ctx, p.report)
	if errors.Is(runErr, context.Canceled) {
		runErr = nil
	}
	close(flushStop)
	if err := <-flushDone; err != nil && runErr == nil {
		runErr = err
	}
	close(statsStop)
	<-statsDone
	finishErr := p.finish()
	logSummary(p, src, time.Since(start), log)
	if runErr != nil {
		return runErr
	}
	return finishErr
}

func countArgs(c *harvest.Counts) []any {
	return []any{
		"findmy", c[harvest.KindFindMy],
		"findmy_partial", c[harvest.KindFindMyPartial],
		"pact", c[harvest.KindPACT],
		"findmy_invalid", c[harvest.KindFindMyInvalid],
		"malformed", c[harvest.KindMalformed],
		"apple_other", c[harvest.KindAppleOther],
		"other", c[harvest.KindOther],
		"ignored_pdu", c[harvest.KindIgnoredPDU],
		"incomplete", c[harvest.KindIncomplete],
	}
}

// logStats logs, every interval, the rate of each kind of frame since the
// previous line.
func logStats(p *pipeline, src source, interval time.Duration, log *slog.Logger, stop <-chan struct{}) {
	if interval <= 0 {
		<-stop
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	prev, prevAt := p.h.Counts(), time.Now()
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			cur := p.h.Counts()
			secs := now.Sub(prevAt).Seconds()
			var rate harvest.Counts
			for i := range cur {
				rate[i] = uint64(float64(cur[i]-prev[i])/secs + 0.5)
			}
			args := []any{"reports_per_s", uint64(float64(cur.Total()-prev.Total())/secs + 0.5)}
			args = append(args, countArgs(&rate)...)
			args = append(args, "invalid_frames_total", cur[harvest.KindMalformed]+cur[harvest.KindFindMyInvalid]+src.frameErrors())
			if p.store != nil {
				args = append(args, "rows_written", p.store.rows.Load())
			}
			args = append(args, src.stats()...)
			log.Info("per second", args...)
			prev, prevAt = cur, now
		}
	}
}

func logSummary(p *pipeline, src source, took time.Duration, log *slog.Logger) {
	c := p.h.Counts()
	args := []any{"reports", c.Total(), "took", took.Round(time.Millisecond),
		"reports_per_s", uint64(float64(c.Total()) / took.Seconds())}
	args = append(args, countArgs(&c)...)
	args = append(args, "frame_errors", src.frameErrors(), "below_min_rssi", p.weak.Load(), "sightings", p.emitted.Load())
	if p.store != nil {
		args = append(args, "rows_written", p.store.rows.Load(), "transactions", p.store.batches.Load())
	}
	if p.jsonl != nil {
		args = append(args, "json_lines", p.written.Load())
	}
	hits, misses := p.h.ValidatorStats()
	args = append(args, "key_checks_cached", hits, "key_checks_computed", misses)
	args = append(args, src.stats()...)
	log.Info("summary", args...)
}

// errNotLoopback is the error of a --metrics address off loopback.
var errNotLoopback = errors.New("not a loopback address")

// serveMetrics serves Prometheus metrics on addr, which must be a
// loopback address: the counters say how busy a place is, which is not
// for the network at large. It returns a function that stops the server.
func serveMetrics(addr string, p *pipeline, src source, log *slog.Logger) (func(), error) {
	if addr == "" {
		return func() {}, nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, cli.FlagErrorf("metrics", addr, "%w", err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, cli.FlagErrorf("metrics", addr, "%w: only 127.0.0.1, ::1 and localhost are allowed", errNotLoopback)
	}
	reg := prometheus.NewRegistry()
	for k := harvest.Kind(0); k < harvest.NumKinds; k++ {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "findmy_harvester_reports_total", Help: "Advertising reports by kind.",
			ConstLabels: prometheus.Labels{"kind": k.String()},
		}, func() float64 { c := p.h.Counts(); return float64(c[k]) }))
	}
	reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "findmy_harvester_frame_errors_total", Help: "Capture records and HCI events skipped as malformed."},
			func() float64 { return float64(src.frameErrors()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "findmy_harvester_below_min_rssi_total", Help: "Sightings dropped by --min-rssi."},
			func() float64 { return float64(p.weak.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "findmy_harvester_scanning", Help: "1 while the adapter scans."},
			func() float64 {
				if src.scanning() {
					return 1
				}
				return 0
			}),
	)
	if p.store != nil {
		reg.MustRegister(
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "findmy_harvester_rows_written_total", Help: "Distinct (chirp, minute) sightings written to the contact log."},
				func() float64 { return float64(p.store.rows.Load()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "findmy_harvester_transactions_total", Help: "Contact log transactions committed."},
				func() float64 { return float64(p.store.batches.Load()) }),
		)
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
	}, nil
}
