package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pact-findmy/pact-findmy/hci"
	"github.com/pact-findmy/pact-findmy/internal/cli"
	"github.com/pact-findmy/pact-findmy/internal/devicedb"
	"github.com/pact-findmy/pact-findmy/internal/harvest"
	"github.com/pact-findmy/pact-findmy/pact"
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
	fs.IntVar(&o.batchRows, "batch", 20000, "distinct sightings per contact-log transaction")
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

// pipeline carries reports from a source to the outputs. report runs on
// the source's goroutine only; the counters are read by the statistics
// and metrics goroutines.
type pipeline struct {
	h       *harvest.Harvester
	minRSSI int
	jsonl   *bufio.Writer
	line    []byte
	res     harvest.Result

	// mu guards the outputs (line, batch, jsonl) against the periodic
	// flush of a live scan; it is uncontended on replay.
	mu        sync.Mutex
	batch     *harvest.Batch
	partials  *harvest.PartialBatch
	batchRows int
	store     *storeWriter

	weak    atomic.Uint64 // sightings dropped by --min-rssi
	emitted atomic.Uint64 // sightings (full and partial) that passed
	written atomic.Uint64 // JSON lines written
}

func newPipeline(o *outputFlags, stdout io.Writer, store *storeWriter) *pipeline {
	p := &pipeline{h: harvest.New(), minRSSI: o.minRSSI, batchRows: o.batchRows, store: store}
	if o.format == "jsonl" {
		p.jsonl = bufio.NewWriterSize(stdout, 256<<10)
	}
	if store != nil {
		p.batch = harvest.NewBatch(o.batchRows)
		p.partials = harvest.NewPartialBatch(1024)
	}
	return p
}

// report is the ReportSource callback.
func (p *pipeline) report(r *hci.AdvReport) error {
	k := p.h.Parse(r, &p.res)
	if k != harvest.KindFindMy && k != harvest.KindPACT && k != harvest.KindFindMyPartial {
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
		if k == harvest.KindFindMyPartial {
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
func (p *pipeline) flushBatch() error {
	if p.batch == nil || p.batch.Len()+p.partials.Len() == 0 {
		return p.store.err()
	}
	return p.store.put(storeBatch{full: p.batch.Take(), partial: p.partials.Take()})
}

// flushEvery writes out the batch and the JSON lines every interval
// until stop is closed, so that on a live scan nothing waits longer than
// that for the database or a reader of stdout. It returns the first
// error, which also ends the flushing.
func (p *pipeline) flushEvery(interval time.Duration, stop <-chan struct{}) error {
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
func (p *pipeline) finish() error {
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

// storeWriter writes batches to the contact log on a goroutine of its own,
// so that parsing goes on while SQLite commits.
type storeWriter struct {
	db *devicedb.DB
	// contacts, when set, erases sightings past retention at open and
	// then every expireEvery.
	contacts *pact.ContactLog
	log      *slog.Logger
	queue    chan storeBatch
	done     chan struct{}
	rows     atomic.Uint64
	batches  atomic.Uint64
	mu       sync.Mutex
	failed   error
}

// expireEvery is how often a long scan erases sightings past retention.
const expireEvery = time.Hour

func openStore(path string, expire bool, log *slog.Logger) (*storeWriter, error) {
	db, err := devicedb.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening contact log %s: %w", path, err)
	}
	s := &storeWriter{db: db, log: log, queue: make(chan storeBatch, 2), done: make(chan struct{})}
	if expire {
		s.contacts = pact.NewContactLog(db, pact.ContactLogOptions{})
		if err := s.expire(context.Background()); err != nil {
			db.Close()
			return nil, err
		}
	}
	go s.loop()
	return s, nil
}

func (s *storeWriter) expire(ctx context.Context) error {
	n, err := s.contacts.Expire(ctx)
	if err != nil {
		return fmt.Errorf("erasing expired sightings: %w", err)
	}
	if n > 0 {
		s.log.Info("erased sightings past retention", "rows", n)
	}
	return nil
}

func (s *storeWriter) loop() {
	defer close(s.done)
	// A stop signal must not abort the final writes, so the writes use a
	// context of their own.
	ctx := context.Background()
	lastExpire := time.Now()
	for batch := range s.queue {
		if s.err() != nil {
			continue
		}
		if s.contacts != nil && time.Since(lastExpire) >= expireEvery {
			lastExpire = time.Now()
			if err := s.expire(ctx); err != nil {
				s.log.Error("retention failed", "err", err)
			}
		}
		start := time.Now()
		if err := s.db.AddSightings(ctx, batch.full); err != nil {
			s.mu.Lock()
			s.failed = fmt.Errorf("writing %d sightings to the contact log: %w", len(batch.full), err)
			s.mu.Unlock()
			s.log.Error("contact log write failed", "rows", len(batch.full), "err", err)
			continue
		}
		if err := s.db.AddPartialSightings(ctx, partialRows(batch.partial)); err != nil {
			s.mu.Lock()
			s.failed = fmt.Errorf("writing %d partial Find My sightings: %w", len(batch.partial), err)
			s.mu.Unlock()
			s.log.Error("partial sighting write failed", "rows", len(batch.partial), "err", err)
			continue
		}
		s.rows.Add(uint64(len(batch.full)))
		s.batches.Add(1)
		s.log.Debug("contact log batch", "rows", len(batch.full), "partial", len(batch.partial), "took", time.Since(start))
	}
}

func (s *storeWriter) err() error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failed
}

// storeBatch is what one flush hands the store writer: contact-log
// sightings and partial Find My sightings.
type storeBatch struct {
	full    []pact.Sighting
	partial []harvest.PartialSighting
}

func partialRows(ps []harvest.PartialSighting) []devicedb.PartialSighting {
	rows := make([]devicedb.PartialSighting, len(ps))
	for i, p := range ps {
		rows[i] = devicedb.PartialSighting(p)
	}
	return rows
}

// put queues a batch; it blocks while two batches are already waiting,
// which slows a replay down to the speed of the database.
func (s *storeWriter) put(batch storeBatch) error {
	if err := s.err(); err != nil {
		return err
	}
	s.queue <- batch
	return nil
}

func (s *storeWriter) close() error {
	close(s.queue)
	<-s.done
	err := s.err()
	if cerr := s.db.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("closing the contact log: %w", cerr)
	}
	return err
}

// appendJSON writes one sighting as a JSON line. It is written by hand
// because every field is a number, a fixed word or hex, and encoding/json
// would cost more than parsing the frame.
func appendJSON(b []byte, r *harvest.Result) []byte {
	b = append(b, `{"minute":`...)
	b = strconv.AppendUint(b, uint64(r.Minute), 10)
	b = append(b, `,"time":"`...)
	b = r.Time.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","source":"`...)
	b = append(b, r.Kind.String()...)
	b = append(b, `","chirp":"`...)
	if r.Kind == harvest.KindFindMyPartial {
		b = appendHex(b, r.Prefix[:])
	} else {
		b = appendHex(b, r.Sighting.Chirp[:])
	}
	b = append(b, `","rssi":`...)
	// 127 is HCI's "not available", kept as the contact log keeps it.
	b = strconv.AppendInt(b, int64(r.RSSI), 10)
	b = append(b, `,"address":"`...)
	for i, c := range r.Addr {
		if i > 0 {
			b = append(b, ':')
		}
		b = append(b, upperHex[c>>4], upperHex[c&15])
	}
	b = append(b, '"')
	if r.Kind != harvest.KindPACT {
		b = append(b, `,"battery":"`...)
		b = append(b, r.Status.Battery().String()...)
		b = append(b, `","device_type":"`...)
		b = append(b, r.Status.DeviceType().String()...)
		b = append(b, `","maintained":`...)
		b = strconv.AppendBool(b, r.Status.Maintained())
		b = append(b, `,"status":`...)
		b = strconv.AppendUint(b, uint64(r.Status), 10)
		if r.Kind == harvest.KindFindMy {
			b = append(b, `,"hint":`...)
			b = strconv.AppendUint(b, uint64(r.Hint), 10)
		}
	}
	return append(b, "}\n"...)
}

const (
	lowerHex = "0123456789abcdef"
	upperHex = "0123456789ABCDEF"
)

func appendHex(b, v []byte) []byte {
	for _, c := range v {
		b = append(b, lowerHex[c>>4], lowerHex[c&15])
	}
	return b
}
