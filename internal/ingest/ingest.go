// Package ingest carries advertising reports from a source (a capture, a
// live adapter, a serial controller) through the harvester's parser to the
// outputs: the contact log and partial sightings of a device database, and
// JSON lines (docs/findmy-harvester.md). findmy-harvester and the PACT node
// both run their listening through it.
package ingest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pact-findmy/pact-findmy/hci"
	"github.com/pact-findmy/pact-findmy/internal/devicedb"
	"github.com/pact-findmy/pact-findmy/internal/harvest"
	"github.com/pact-findmy/pact-findmy/pact"
)

// DefaultBatchRows is the number of distinct sightings per contact-log
// transaction when Options.BatchRows is 0.
const DefaultBatchRows = 20000

// Options configure a Pipeline.
type Options struct {
	// DB is the device database to add sightings to; nil for none. The
	// pipeline does not close it: its owner may share it (the node's
	// syncer and dashboard write it too).
	DB *devicedb.DB
	// Expire erases sightings past retention (spec §5.3) when Run starts
	// and then hourly. A live scan is the device's own contact log and
	// sets it; a replay may load an old capture for analysis and does not.
	Expire bool
	// JSONL receives one JSON object per sighting; nil for none.
	JSONL io.Writer
	// MinRSSI drops sightings weaker than this many dBm; reports without
	// RSSI (127) are kept. -128 keeps everything.
	MinRSSI int
	// BatchRows is the number of distinct sightings per contact-log
	// transaction; 0 means DefaultBatchRows.
	BatchRows int
	// Live flushes the database batch and the JSON lines at least every
	// second, so that nothing heard waits longer than that.
	Live bool
	// StatsInterval is how often to log statistics; 0 disables them.
	StatsInterval time.Duration
	// Logger receives the statistics and the summary; nil discards them.
	Logger *slog.Logger
	// Own, when set, recognises the device's own chirps (pact.SeedLog.Own):
	// a repeated chirp it recognises is one a repeater brought back to
	// its sender, and is dropped and counted, never logged (spec §9.1.3).
	Own func(c pact.Chirp, heard pact.Minute) bool
}

// ErrOption is the error of New with an option out of range; the
// *OptionError wrapping it names the option and its value.
var ErrOption = errors.New("ingest option out of range")

// OptionError is an option New refused.
type OptionError struct {
	Option string
	Value  int
	Want   string
}

func (e *OptionError) Error() string {
	return fmt.Sprintf("ingest: %s %d: want %s", e.Option, e.Value, e.Want)
}

func (e *OptionError) Unwrap() error { return ErrOption }

// ErrReused is the error of a second Run of one Pipeline.
var ErrReused = errors.New("ingest: a pipeline runs once")

// liveFlushInterval bounds how long a sighting heard on a live source
// waits before it is written.
const liveFlushInterval = time.Second

// Pipeline carries reports from a source to the outputs. It runs once.
// report runs on the source's goroutine only; the counters are read by
// the statistics, metrics and Snapshot.
type Pipeline struct {
	h       *harvest.Harvester
	log     *slog.Logger
	opts    Options
	jsonl   *bufio.Writer
	line    []byte
	res     harvest.Result
	minRSSI int

	// mu guards the outputs (line, batch, jsonl) against the periodic
	// flush of a live scan; it is uncontended on replay.
	mu        sync.Mutex
	batch     *harvest.Batch
	partials  *harvest.PartialBatch
	batchRows int
	store     *storeWriter // nil without a database

	weak    atomic.Uint64 // sightings dropped by MinRSSI
	own     atomic.Uint64 // repeated own chirps dropped (Options.Own)
	emitted atomic.Uint64 // sightings (full and partial) that passed
	written atomic.Uint64 // JSON lines written

	started atomic.Bool
	// run is the source and timing of the run, for Snapshot and metrics.
	runMu sync.Mutex
	src   Source
	start time.Time
	end   time.Time
	rates rateWindow
}

// New checks opts and returns a pipeline ready to Run.
func New(opts Options) (*Pipeline, error) {
	if opts.MinRSSI < -128 || opts.MinRSSI > 127 {
		return nil, &OptionError{Option: "MinRSSI", Value: opts.MinRSSI, Want: "-128..127 dBm"}
	}
	if opts.BatchRows == 0 {
		opts.BatchRows = DefaultBatchRows
	}
	if opts.BatchRows < 1 {
		return nil, &OptionError{Option: "BatchRows", Value: opts.BatchRows, Want: "at least 1"}
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Pipeline{h: harvest.New(), log: log, opts: opts, minRSSI: opts.MinRSSI, batchRows: opts.BatchRows}
	if opts.JSONL != nil {
		p.jsonl = bufio.NewWriterSize(opts.JSONL, 256<<10)
	}
	if opts.DB != nil {
		p.batch = harvest.NewBatch(opts.BatchRows)
		p.partials = harvest.NewPartialBatch(1024)
		p.store = newStore(opts.DB, log)
	}
	return p, nil
}

// Run carries src's reports to the outputs until src ends or ctx is done,
// then flushes everything and logs a summary. A stop through ctx is not
// an error. Run does not close src.
func (p *Pipeline) Run(ctx context.Context, src Source) error {
	if p.started.Swap(true) {
		return ErrReused
	}
	start := time.Now()
	p.runMu.Lock()
	p.src, p.start = src, start
	p.rates.add(start, p.h.Counts())
	p.runMu.Unlock()
	if p.store != nil {
		if err := p.store.start(p.opts.Expire); err != nil {
			p.setEnd()
			return err
		}
	}

	statsDone := make(chan struct{})
	statsStop := make(chan struct{})
	go func() {
		defer close(statsDone)
		p.sampleAndLog(src, statsStop)
	}()
	// A failed periodic flush (the database, or the JSON reader gone)
	// stops the source like a signal would, and becomes Run's error.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	flushStop := make(chan struct{})
	flushDone := make(chan error, 1)
	if p.opts.Live {
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
	p.setEnd()
	p.logSummary(src, time.Since(start))
	if runErr != nil {
		return runErr
	}
	return finishErr
}

func (p *Pipeline) setEnd() {
	p.runMu.Lock()
	p.end = time.Now()
	p.runMu.Unlock()
}

// report is the ReportSource callback.
func (p *Pipeline) report(r *hci.AdvReport) error {
	k := p.h.Parse(r, &p.res)
	if !k.IsSighting() && !k.IsPartial() {
		return nil
	}
	if k == harvest.KindRepeated && p.opts.Own != nil && p.opts.Own(p.res.Sighting.Chirp, p.res.Minute) {
		p.own.Add(1)
		return nil
	}
	if int(p.res.RSSI) < p.minRSSI && p.res.RSSI != pact.RSSIUnknown {
		p.weak.Add(1)
		return nil
	}
	p.emitted.Add(1)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.jsonl != nil {
		p.line = appendJSON(p.line[:0], &p.res)
		if _, err := p.jsonl.Write(p.line); err != nil {
			return fmt.Errorf("writing JSON lines: %w", err)
		}
		p.written.Add(1)
	}
	if p.batch != nil {
		// Partial sightings go to their own table (docs/findmy.md §7),
		// never to the contact log.
		if k.IsPartial() {
			p.partials.Add(p.res.Partial())
		} else {
			p.batch.Add(p.res.Sighting)
		}
		if p.batch.Len() >= p.batchRows || p.partials.Len() >= p.batchRows {
			return p.flushBatch()
		}
	}
	return nil
}

// flushBatch hands the batch to the store writer; p.mu is held.
func (p *Pipeline) flushBatch() error {
	if p.batch == nil || p.batch.Len()+p.partials.Len() == 0 {
		return p.store.err()
	}
	return p.store.put(storeBatch{full: p.batch.Take(), partial: p.partials.Take()})
}

// flushEvery writes out the batch and the JSON lines every interval
// until stop is closed, so that on a live scan nothing waits longer than
// that for the database or a reader of the lines. It returns the first
// error, which also ends the flushing.
func (p *Pipeline) flushEvery(interval time.Duration, stop <-chan struct{}) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return nil
		case <-t.C:
		}
		p.mu.Lock()
		err := p.flushBatch()
		if err == nil && p.jsonl != nil {
			err = p.jsonl.Flush()
		}
		p.mu.Unlock()
		if err != nil {
			return err
		}
	}
}

// finish flushes everything; it runs after the source has stopped.
func (p *Pipeline) finish() error {
	var errs []error
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.flushBatch(); err != nil {
		errs = append(errs, err)
	}
	if p.store != nil {
		if err := p.store.close(); err != nil {
			errs = append(errs, err)
		}
	}
	if p.jsonl != nil {
		if err := p.jsonl.Flush(); err != nil {
			errs = append(errs, fmt.Errorf("writing JSON lines: %w", err))
		}
	}
	return errors.Join(errs...)
}
