package ingest

import (
	"maps"
	"slices"
	"time"

	"github.com/pact-findmy/pact-findmy/internal/harvest"
)

// Snapshot is the state of a pipeline for a dashboard.
type Snapshot struct {
	// Source is the source's Name; empty before Run.
	Source string
	// Scanning is the source's adapter state; false for captures.
	Scanning bool
	// Running is true from the start of Run until it returns.
	Running bool
	// Started is when Run started; zero before.
	Started time.Time
	// Counts are the reports seen of each kind.
	Counts harvest.Counts
	// FrameErrors are the records or events the source skipped as malformed.
	FrameErrors uint64
	// BelowMinRSSI are the sightings dropped by Options.MinRSSI.
	BelowMinRSSI uint64
	// Sightings are the sightings (full and partial) that passed.
	Sightings uint64
	// RowsWritten are the contact-log sightings committed, PartialRowsWritten
	// the partial Find My sightings, Transactions the commits.
	RowsWritten, PartialRowsWritten, Transactions uint64
	// Rates are the reports of each kind per second over the last
	// RateWindow while running; zero when not.
	Rates      [harvest.NumKinds]float64
	RateWindow time.Duration
}

// rateSamples is how many one-second samples of the counts the rates of a
// Snapshot span.
const rateSamples = 5

// rateWindow keeps the last rateSamples samples of the counts, oldest
// first; Pipeline.runMu guards it.
type rateWindow struct {
	at     [rateSamples]time.Time
	counts [rateSamples]harvest.Counts
	n      int
}

func (w *rateWindow) add(at time.Time, c harvest.Counts) {
	if w.n == rateSamples {
		copy(w.at[:], w.at[1:])
		copy(w.counts[:], w.counts[1:])
		w.n--
	}
	w.at[w.n], w.counts[w.n] = at, c
	w.n++
}

// Snapshot returns the pipeline's counters; it may be called at any time,
// from any goroutine.
func (p *Pipeline) Snapshot() Snapshot {
	now := time.Now()
	s := Snapshot{
		Counts:       p.h.Counts(),
		BelowMinRSSI: p.weak.Load(),
		Sightings:    p.emitted.Load(),
	}
	if p.store != nil {
		s.RowsWritten, s.PartialRowsWritten, s.Transactions = p.store.rows.Load(), p.store.partial.Load(), p.store.batches.Load()
	}
	p.runMu.Lock()
	src := p.src
	s.Started = p.start
	s.Running = src != nil && p.end.IsZero()
	if s.Running && p.rates.n > 0 {
		oldest, old := p.rates.at[0], p.rates.counts[0]
		if span := now.Sub(oldest); span > 0 {
			s.RateWindow = span
			for k := range s.Rates {
				s.Rates[k] = float64(s.Counts[k]-old[k]) / span.Seconds()
			}
		}
	}
	p.runMu.Unlock()
	if src != nil {
		s.Source, s.Scanning, s.FrameErrors = src.Name(), src.Scanning(), src.FrameErrors()
	}
	return s
}

// sampleAndLog samples the counts every second for the rates of a
// Snapshot and logs, every StatsInterval, the rate of each kind of frame
// since the previous line, until stop is closed.
func (p *Pipeline) sampleAndLog(src Source, stop <-chan struct{}) {
	sample := time.NewTicker(time.Second)
	defer sample.Stop()
	var logC <-chan time.Time
	if p.opts.StatsInterval > 0 {
		t := time.NewTicker(p.opts.StatsInterval)
		defer t.Stop()
		logC = t.C
	}
	prev, prevAt := p.h.Counts(), time.Now()
	for {
		select {
		case <-stop:
			return
		case now := <-sample.C:
			c := p.h.Counts()
			p.runMu.Lock()
			p.rates.add(now, c)
			p.runMu.Unlock()
		case now := <-logC:
			cur := p.h.Counts()
			p.logStats(src, &prev, &cur, now.Sub(prevAt))
			prev, prevAt = cur, now
		}
	}
}

func (p *Pipeline) logStats(src Source, prev, cur *harvest.Counts, took time.Duration) {
	secs := took.Seconds()
	var rate harvest.Counts
	for i := range cur {
		rate[i] = uint64(float64(cur[i]-prev[i])/secs + 0.5)
	}
	args := []any{"reports_per_s", uint64(float64(cur.Total()-prev.Total())/secs + 0.5)}
	args = append(args, countArgs(&rate)...)
	args = append(args, "invalid_frames_total", cur[harvest.KindMalformed]+cur[harvest.KindFindMyInvalid]+src.FrameErrors())
	if p.store != nil {
		args = append(args, "rows_written", p.store.rows.Load())
	}
	args = append(args, src.Stats()...)
	p.log.Info("per second", args...)
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
		"findmy_dult", c[harvest.KindFindMyDULT],
		"dult_other", c[harvest.KindDULTOther],
		"repeater", c[harvest.KindRepeated],
		"findmy_repeater", c[harvest.KindFindMyRepeated],
		"repeated_stale", c[harvest.KindRepeatedStale],
	}
}

func (p *Pipeline) logSummary(src Source, took time.Duration) {
	c := p.h.Counts()
	args := []any{"reports", c.Total(), "took", took.Round(time.Millisecond),
		"reports_per_s", uint64(float64(c.Total()) / took.Seconds())}
	args = append(args, countArgs(&c)...)
	args = append(args, "frame_errors", src.FrameErrors(), "below_min_rssi", p.weak.Load(), "own_repeated", p.own.Load(), "sightings", p.emitted.Load())
	if p.store != nil {
		args = append(args, "rows_written", p.store.rows.Load(), "transactions", p.store.batches.Load())
	}
	if p.jsonl != nil {
		args = append(args, "json_lines", p.written.Load())
	}
	hits, misses := p.h.ValidatorStats()
	args = append(args, "key_checks_cached", hits, "key_checks_computed", misses)
	for _, network := range slices.Sorted(maps.Keys(p.h.DULTNetworks())) {
		args = append(args, "dult_network_"+network, p.h.DULTNetworks()[network])
	}
	args = append(args, src.Stats()...)
	p.log.Info("summary", args...)
}
