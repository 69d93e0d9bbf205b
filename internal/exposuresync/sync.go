// Package exposuresync keeps a device's match results up to date with
// the exposure servers it follows (issue 8, "Syncs" and "Matches"). It
// fetches every new batch through exposureclient, matches the batch's seed
// tuples against the contact log with pact.Matcher (spec §8) and hands its
// Find My keys to a pluggable matcher, then stores the matches, records
// the batch and advances the region's cursor in one device-database
// transaction: a batch is applied exactly once, and a sync cut off at any
// point resumes where it stopped.
//
// A batch that fails verification (docs/api.md, "Downloads") is refused:
// nothing of it is stored, the refusal is recorded for the dashboard, and
// its region stops there until a later sync fetches it intact. Batches of
// a region are never skipped.
package exposuresync

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/pact-findmy/pact-findmy/exposureclient"
	"github.com/pact-findmy/pact-findmy/findmy"
	"github.com/pact-findmy/pact-findmy/internal/batch"
	"github.com/pact-findmy/pact-findmy/internal/devicedb"
	"github.com/pact-findmy/pact-findmy/pact"
)

// ErrConfig is returned by New for an unusable server list or options.
var ErrConfig = errors.New("exposuresync: bad configuration")

// ErrObserver wraps the error of Options.OnBatch.
var ErrObserver = errors.New("batch observer failed")

// Server is one exposure server the device follows.
type Server struct {
	// Name identifies the server in the device database and the
	// dashboard; it must be unique and stable, since cursors are kept
	// under it.
	Name string
	// URL is the server's or its static mirror's base URL.
	URL string
	// Key is the pinned Ed25519 batch key, obtained out of band.
	Key ed25519.PublicKey
	// Regions are the regions to fetch; empty fetches every region
	// through /v1/all/batches, which hides the device's own region.
	Regions []string
}

// FindMyMatcher matches the Find My keys of a verified batch against the
// contact log (docs/findmy.md) and stores what it finds through tx, the
// transaction that applies the batch, so its matches are kept exactly when
// the batch is. It returns the days and sources ("findmy",
// "findmy-partial") that gained a stored match row. It is called for every
// batch, also one without Find My keys, and may read the contact log
// through tx.SQL().
type FindMyMatcher func(ctx context.Context, tx *devicedb.BatchTx, b *exposureclient.Batch) ([]devicedb.DaySource, error)

// Options configure a Syncer. The zero value is usable.
type Options struct {
	// HTTPClient fetches the batches; nil selects NewHTTPClient("", servers),
	// which connects to nothing but the servers.
	HTTPClient *http.Client
	// FindMy, when not nil, matches each batch's Find My keys.
	FindMy FindMyMatcher
	// OnBatch, when not nil, sees every verified batch before it is
	// applied (the share tracker confirms uploads with it). An error
	// leaves the batch unapplied and stops its region until the next
	// sync, which shows it the batch again: OnBatch must be idempotent.
	OnBatch func(ctx context.Context, server string, b *exposureclient.Batch) error
	// Clock tells the time of records and the matching window.
	Clock pact.Clock
	// Logger receives one line per applied or refused batch.
	Logger *slog.Logger
	// Retention is how far back the contact log is matched and how long
	// the log of applied batches is kept; zero selects
	// pact.DefaultRetention.
	Retention pact.Minute
	// MatchWorkers is pact.MatchOptions.Workers.
	MatchWorkers int
}

// Syncer applies the batches of a fixed list of servers to a device
// database. Its methods are safe for concurrent use; syncs run one at a
// time.
type Syncer struct {
	db      *devicedb.DB
	servers []Server
	clients []*exposureclient.Client
	opts    Options
	log     *slog.Logger
	clock   pact.Clock

	mu sync.Mutex // held by Sync
}

// New returns a Syncer for servers over db.
func New(db *devicedb.DB, servers []Server, opts Options) (*Syncer, error) {
	if db == nil {
		return nil, fmt.Errorf("%w: no device database", ErrConfig)
	}
	if len(servers) == 0 {
		return nil, fmt.Errorf("%w: no exposure server", ErrConfig)
	}
	names := map[string]bool{}
	for _, s := range servers {
		if s.Name == "" || names[s.Name] {
			return nil, fmt.Errorf("%w: server name %q is empty or given twice", ErrConfig, s.Name)
		}
		names[s.Name] = true
		regions := map[string]bool{}
		for _, r := range s.Regions {
			if err := batch.ValidRegion(r); err != nil {
				return nil, fmt.Errorf("%w: server %s: %w", ErrConfig, s.Name, err)
			}
			if regions[r] {
				return nil, fmt.Errorf("%w: server %s: region %s given twice", ErrConfig, s.Name, r)
			}
			regions[r] = true
		}
	}
	if opts.Retention > pact.MaxMatchSpan-pact.MinutesPerDay {
		return nil, fmt.Errorf("%w: retention of %d minutes exceeds what a matcher indexes (%d)", ErrConfig, opts.Retention, pact.MaxMatchSpan-pact.MinutesPerDay)
	}
	if opts.HTTPClient == nil {
		hc, err := NewHTTPClient("", servers)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrConfig, err)
		}
		opts.HTTPClient = hc
	}
	s := &Syncer{db: db, servers: slices.Clone(servers), opts: opts, log: opts.Logger, clock: opts.Clock}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if s.clock == nil {
		s.clock = pact.SystemClock{}
	}
	if s.opts.Retention == 0 {
		s.opts.Retention = pact.DefaultRetention
	}
	for _, srv := range s.servers {
		c, err := exposureclient.New(srv.URL, srv.Key, opts.HTTPClient)
		if err != nil {
			return nil, fmt.Errorf("%w: server %s: %w", ErrConfig, srv.Name, err)
		}
		s.clients = append(s.clients, c)
	}
	return s, nil
}

// Applied is one batch applied by a sync.
type Applied struct {
	Server     string
	ID         string
	Region     string
	Sequence   uint64
	Tuples     int
	FindMyKeys int
	// Matches is how many ordinary PACT match rows the batch added (or
	// turned from reverse-tracing into ordinary).
	Matches int
	// ReverseMatches is how many reverse-tracing PACT match rows the batch
	// added (spec §9.2).
	ReverseMatches int
}

// Refusal is one batch refused by a sync.
type Refusal struct {
	Server   string
	ID       string
	Region   string
	Sequence uint64
	// Kind is tampered, truncated, reordered or replayed.
	Kind string
	// Err wraps the exposureclient error (ErrTampered, ...).
	Err error
	At  time.Time
}

// Report is the outcome of one Sync.
type Report struct {
	Applied []Applied
	Refused []Refusal
	// NewExposure lists the days and sources whose stored matches grew,
	// by day, source, then ordinary before reverse-tracing: each is a day
	// whose exposure summary, or whose reverse-tracing summary when
	// DaySource.Reverse is set (spec §9.2), changed.
	NewExposure []devicedb.DaySource
	// IndexedSightings is how many contact-log sightings the matcher
	// indexed; zero when no batch had tuples to match.
	IndexedSightings int
}

// refusalKind classifies a verification failure, or returns "" for any
// other error (network, server status, cancelled).
func refusalKind(err error) string {
	switch {
	case errors.Is(err, exposureclient.ErrTampered):
		return "tampered"
	case errors.Is(err, exposureclient.ErrTruncated):
		return "truncated"
	case errors.Is(err, exposureclient.ErrReordered):
		return "reordered"
	case errors.Is(err, exposureclient.ErrReplayed):
		return "replayed"
	}
	return ""
}

// run is the state of one Sync.
type run struct {
	now     time.Time
	matcher *pact.Matcher
	report  Report
	exposed map[devicedb.DaySource]bool
}

// Sync fetches and applies every new batch of every server, in server
// order and, within a region, in sequence order. A failure of one server
// or region does not stop the others; the errors are joined. The report
// covers what was applied and refused, also when the error is not nil.
func (s *Syncer) Sync(ctx context.Context) (Report, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := &run{now: s.clock.Now(), exposed: map[devicedb.DaySource]bool{}}
	var errs []error
	for i, srv := range s.servers {
		err := s.syncServer(ctx, r, srv, s.clients[i])
		// The outcome is recorded even when ctx was cancelled.
		if rerr := s.db.RecordSyncAttempt(context.WithoutCancel(ctx), srv.Name, s.clock.Now(), err); rerr != nil {
			errs = append(errs, rerr)
		}
		if err != nil {
			s.log.Warn("exposure sync failed", "server", srv.Name, "err", err)
			errs = append(errs, fmt.Errorf("exposure server %s: %w", srv.Name, err))
		}
	}
	if horizon := r.now.Add(-time.Duration(s.opts.Retention) * time.Minute); horizon.After(time.Unix(0, 0)) {
		if _, err := s.db.DeleteAppliedBatchesBefore(context.WithoutCancel(ctx), horizon); err != nil {
			errs = append(errs, err)
		}
	}
	for ds := range r.exposed {
		r.report.NewExposure = append(r.report.NewExposure, ds)
	}
	devicedb.SortDaySources(r.report.NewExposure)
	return r.report, errors.Join(errs...)
}

func (s *Syncer) syncServer(ctx context.Context, r *run, srv Server, c *exposureclient.Client) error {
	cursors, err := s.db.SyncCursors(ctx, srv.Name)
	if err != nil {
		return err
	}
	last := make(map[string]uint64, len(cursors))
	for _, cur := range cursors {
		last[cur.Region] = cur.Sequence
	}
	var errs []error
	if len(srv.Regions) == 0 {
		refs, err := c.List(ctx, "", 0)
		if err != nil {
			return err
		}
		byRegion := map[string][]exposureclient.Ref{}
		var order []string
		for _, ref := range refs {
			if _, ok := byRegion[ref.Region]; !ok {
				order = append(order, ref.Region)
			}
			byRegion[ref.Region] = append(byRegion[ref.Region], ref)
		}
		for _, region := range order {
			if err := s.syncRegion(ctx, r, srv, c, region, last[region], byRegion[region]); err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}
	for _, region := range srv.Regions {
		refs, err := c.List(ctx, region, last[region])
		if err == nil {
			err = s.syncRegion(ctx, r, srv, c, region, last[region], refs)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// syncRegion applies the batches of refs, the listing of one region, that
// lie past cursor, and stops at the first one it cannot apply.
func (s *Syncer) syncRegion(ctx context.Context, r *run, srv Server, c *exposureclient.Client, region string, cursor uint64, refs []exposureclient.Ref) error {
	// The first new batch may lie beyond cursor+1 when the server's
	// retention deleted the ones in between; within one listing, numbers
	// must be consecutive, or a batch is being withheld.
	var prev uint64
	for _, ref := range refs {
		if ref.Region != region {
			return fmt.Errorf("region %s: the listing holds batch %q of region %q", region, ref.ID, ref.Region)
		}
		if ref.Sequence <= cursor {
			continue // applied before; a static mirror lists everything
		}
		if prev != 0 && ref.Sequence != prev+1 {
			return fmt.Errorf("region %s: %w: batch %d follows %d in the listing", region, exposureclient.ErrGap, ref.Sequence, prev)
		}
		prev = ref.Sequence
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("region %s: stopped before batch %d: %w", region, ref.Sequence, err)
		}
		b, err := c.Fetch(ctx, ref)
		if err != nil {
			if kind := refusalKind(err); kind != "" {
				return s.refuse(ctx, r, srv, ref, kind, err)
			}
			return fmt.Errorf("region %s: %w", region, err)
		}
		if err := s.apply(ctx, r, srv, b); err != nil {
			return fmt.Errorf("region %s: %w", region, err)
		}
	}
	return nil
}

func (s *Syncer) refuse(ctx context.Context, r *run, srv Server, ref exposureclient.Ref, kind string, cause error) error {
	id := fmt.Sprintf("%s.%d", ref.Region, ref.Sequence)
	now := s.clock.Now()
	rec := devicedb.RefusedBatch{
		Server: srv.Name, Region: ref.Region, Sequence: ref.Sequence, ID: id,
		Kind: kind, Reason: cause.Error(), Last: now,
	}
	s.log.Warn("exposure batch refused", "server", srv.Name, "batch", id, "kind", kind, "err", cause)
	r.report.Refused = append(r.report.Refused, Refusal{Server: srv.Name, ID: id, Region: ref.Region, Sequence: ref.Sequence, Kind: kind, Err: cause, At: now})
	if err := s.db.RecordRefusedBatch(context.WithoutCancel(ctx), rec); err != nil {
		return errors.Join(cause, err)
	}
	return fmt.Errorf("region %s: batch %d refused: %w", ref.Region, ref.Sequence, cause)
}

// matchTuples returns the contacts of b's tuples, indexing the contact log
// on first use: once per Sync, however many batches it applies. A
// sighting recorded after the index was built cannot be missed in a way
// that matters: every tuple of a batch ended before the batch was cut
// (the server refuses tuples ending past its clock plus a skew of
// minutes), so such a sighting lies after every minute the batch covers.
func (s *Syncer) matchTuples(ctx context.Context, r *run, b *exposureclient.Batch) ([]pact.Contact, error) {
	if len(b.Tuples) == 0 {
		return nil, nil
	}
	if r.matcher == nil {
		now := pact.MinuteOf(r.now)
		opts := pact.MatchOptions{Workers: s.opts.MatchWorkers, To: now + pact.MinutesPerHour}
		if now > s.opts.Retention {
			opts.From = now - s.opts.Retention
		}
		m, err := pact.LoadMatcher(ctx, s.db, opts)
		if err != nil {
			return nil, err
		}
		r.matcher = m
		r.report.IndexedSightings = m.Sightings()
	}
	var cs []pact.Contact
	if _, err := r.matcher.Match(pact.TupleSeq(b.Tuples), func(c pact.Contact) error {
		cs = append(cs, c)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("matching batch %s: %w", b.ID, err)
	}
	return cs, nil
}

// ErrReverseFlags is returned for a batch whose reverse-tracing flags are
// not one per tuple.
var ErrReverseFlags = errors.New("reverse-tracing flags do not match the tuples")

// splitReverse sorts the contacts matched in b into ordinary ones and
// reverse-tracing ones (spec §9.2): a contact is reverse-tracing when the
// tuple that found it is flagged. A sighting found by a flagged and an
// unflagged tuple is in both lists; it is stored as ordinary because
// apply stores the ordinary list first.
func splitReverse(b *exposureclient.Batch, cs []pact.Contact) (ordinary, reverse []pact.Contact, err error) {
	if b.Reverse == nil {
		return cs, nil, nil
	}
	if len(b.Reverse) != len(b.Tuples) {
		return nil, nil, fmt.Errorf("batch %s: %d flags for %d tuples: %w", b.ID, len(b.Reverse), len(b.Tuples), ErrReverseFlags)
	}
	for _, c := range cs {
		if c.TupleIndex < 0 || c.TupleIndex >= int64(len(b.Reverse)) {
			return nil, nil, fmt.Errorf("batch %s: a contact of tuple %d, of %d: %w", b.ID, c.TupleIndex, len(b.Tuples), ErrReverseFlags)
		}
		if b.Reverse[c.TupleIndex] {
			reverse = append(reverse, c)
		} else {
			ordinary = append(ordinary, c)
		}
	}
	return ordinary, reverse, nil
}

// MarkReverseFindMy sets FindMyMatch.Reverse of the matches ms of batch b
// (spec §9.2): a match is reverse-tracing when every key entry of b with
// its key and window is flagged, so that an entry published both flagged
// and unflagged gives an ordinary match. A FindMyMatcher calls it before
// it stores ms.
func MarkReverseFindMy(b *exposureclient.Batch, ms []devicedb.FindMyMatch) {
	type entry struct {
		key        findmy.Key
		start, end pact.Minute
	}
	type flags struct{ ordinary, reverse bool }
	seen := make(map[entry]flags, len(b.FindMy))
	for _, k := range b.FindMy {
		e := entry{k.Key, k.Start, k.End}
		f := seen[e]
		if k.Reverse {
			f.reverse = true
		} else {
			f.ordinary = true
		}
		seen[e] = f
	}
	for i := range ms {
		f := seen[entry{ms[i].Key, ms[i].WindowStart, ms[i].WindowEnd}]
		ms[i].Reverse = f.reverse && !f.ordinary
	}
}

func (s *Syncer) apply(ctx context.Context, r *run, srv Server, b *exposureclient.Batch) error {
	if s.opts.OnBatch != nil {
		if err := s.opts.OnBatch(ctx, srv.Name, b); err != nil {
			return fmt.Errorf("batch %s: %w: %w", b.ID, ErrObserver, err)
		}
	}
	// Matching is CPU work; it runs before the write transaction opens so
	// that the contact log's writers wait only for the inserts.
	contacts, err := s.matchTuples(ctx, r, b)
	if err != nil {
		return err
	}
	ordinary, reverse, err := splitReverse(b, contacts)
	if err != nil {
		return err
	}
	rec := devicedb.AppliedBatch{
		Server: srv.Name, Region: b.Region, Sequence: b.Sequence, ID: b.ID,
		PeriodStart: b.PeriodStart, PeriodMinutes: b.PeriodMinutes, Uploads: b.Uploads,
		Tuples: len(b.Tuples), FindMyKeys: len(b.FindMy), Applied: s.clock.Now(),
	}
	var exposed []devicedb.DaySource
	var matches, reverseMatches int
	err = s.db.ApplyBatch(ctx, rec, func(tx *devicedb.BatchTx) error {
		exposed = exposed[:0]
		// Ordinary first: a sighting matched both ways is ordinary.
		days, err := tx.AddContacts(ordinary)
		if err != nil {
			return err
		}
		exposed = append(exposed, days...)
		if days, err = tx.AddReverseContacts(reverse); err != nil {
			return err
		}
		exposed = append(exposed, days...)
		if s.opts.FindMy != nil {
			fm, err := s.opts.FindMy(ctx, tx, b)
			if err != nil {
				return fmt.Errorf("matching the Find My keys of batch %s: %w", b.ID, err)
			}
			exposed = append(exposed, fm...)
		}
		matches, reverseMatches = tx.Contacts(), tx.ReverseContacts()
		return nil
	})
	if errors.Is(err, devicedb.ErrBatchApplied) {
		// Another syncer of the same database got there first.
		s.log.Info("exposure batch already applied", "server", srv.Name, "batch", b.ID)
		return nil
	}
	if err != nil {
		return err
	}
	for _, ds := range exposed {
		r.exposed[ds] = true
	}
	r.report.Applied = append(r.report.Applied, Applied{
		Server: srv.Name, ID: b.ID, Region: b.Region, Sequence: b.Sequence,
		Tuples: len(b.Tuples), FindMyKeys: len(b.FindMy), Matches: matches, ReverseMatches: reverseMatches,
	})
	s.log.Info("exposure batch applied", "server", srv.Name, "batch", b.ID, "tuples", len(b.Tuples),
		"findmy_keys", len(b.FindMy), "new_matches", matches, "new_reverse_matches", reverseMatches)
	return nil
}

// ServerStatus is what the dashboard shows of one server.
type ServerStatus struct {
	Name    string
	URL     string
	Regions []string
	// LastAttempt and LastSuccess are zero before the first sync and the
	// first fully successful one.
	LastAttempt time.Time
	LastSuccess time.Time
	// LastError is the last sync's error, empty after a success.
	LastError string
	Cursors   []devicedb.SyncCursor
	Refused   []devicedb.RefusedBatch
}

// Status returns the sync state of every server, from the device database.
func (s *Syncer) Status(ctx context.Context) ([]ServerStatus, error) {
	out := make([]ServerStatus, 0, len(s.servers))
	for _, srv := range s.servers {
		a, err := s.db.LastSyncAttempt(ctx, srv.Name)
		if err != nil {
			return nil, err
		}
		cursors, err := s.db.SyncCursors(ctx, srv.Name)
		if err != nil {
			return nil, err
		}
		refused, err := s.db.RefusedBatches(ctx, srv.Name)
		if err != nil {
			return nil, err
		}
		out = append(out, ServerStatus{
			Name: srv.Name, URL: srv.URL, Regions: slices.Clone(srv.Regions),
			LastAttempt: a.LastAttempt, LastSuccess: a.LastSuccess, LastError: a.LastError,
			Cursors: cursors, Refused: refused,
		})
	}
	return out, nil
}
