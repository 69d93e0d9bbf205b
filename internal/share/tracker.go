package share

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/pact-findmy/pact-findmy/exposureclient"
	"github.com/pact-findmy/pact-findmy/findmy"
	"github.com/pact-findmy/pact-findmy/internal/devicedb"
	"github.com/pact-findmy/pact-findmy/pact"
)

// Record is a share as the device database keeps it, for the dashboard.
type Record = devicedb.Share

// TrackerOptions tune a Tracker. Zero values take the defaults.
type TrackerOptions struct {
	// Batches is how many batches of the share's region, whose spans
	// began after the upload, may come without it before the share is
	// suspected of suppression. Default 2: the server holds uploads until
	// a region has enough (docs/api.md, "Holding and chaff") and then
	// publishes all it holds in one batch, whose span began before the
	// upload; an upload that committed while that batch was cut goes into
	// the next one.
	Batches int
	// MaxWait is how long a stored share may wait for its batch. Default
	// 26 hours: the server holds an upload for up to a day by default,
	// plus a period and a sync interval.
	MaxWait time.Duration
	// Skew is how far the device's and the server's clocks may differ.
	// Default 2 minutes.
	Skew   time.Duration
	Clock  pact.Clock
	Logger *slog.Logger
}

// Tracker checks signed batches for the entries of earlier shares: PACT
// relies on the diagnosed user confirming the upload against suppression
// (issue 8, "Verified upload"). Batches do not say how many uploads they
// hold, and chaff pads them, so the tracker looks for the share's own
// seeds and keys: a share is confirmed once every seed and
// key it sent has appeared in verified batches of its server and region,
// and suspected when later batches or the time limit pass without them.
// A suspected share still becomes confirmed if its entries appear later.
type Tracker struct {
	db   *devicedb.DB
	opts TrackerOptions
}

// NewTracker returns a tracker over the shares recorded in db.
func NewTracker(db *devicedb.DB, opts TrackerOptions) *Tracker {
	if opts.Batches <= 0 {
		opts.Batches = 2
	}
	if opts.MaxWait <= 0 {
		opts.MaxWait = 26 * time.Hour
	}
	if opts.Skew <= 0 {
		opts.Skew = 2 * time.Minute
	}
	if opts.Clock == nil {
		opts.Clock = pact.SystemClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Tracker{db: db, opts: opts}
}

type tupleID struct {
	seed       pact.Seed
	start, end pact.Minute
}

type keyID struct {
	key        findmy.Key
	start, end pact.Minute
}

// Observe checks a verified batch that server published. The syncer calls
// it for every batch it applies.
func (t *Tracker) Observe(ctx context.Context, server string, b *exposureclient.Batch) error {
	if _, err := t.CheckOverdue(ctx); err != nil {
		return err
	}
	shares, err := t.db.TrackedShares(ctx, server, b.Region)
	if err != nil || len(shares) == 0 {
		return err
	}
	tuples := make(map[tupleID]bool, len(b.Tuples))
	for _, tp := range b.Tuples {
		tuples[tupleID{tp.Seed, tp.Start, tp.End}] = true
	}
	keys := make(map[keyID]bool, len(b.FindMy))
	for _, k := range b.FindMy {
		keys[keyID{k.Key, k.Start, k.End}] = true
	}
	now := t.opts.Clock.Now()
	for _, sh := range shares {
		entries, err := t.db.ShareEntries(ctx, sh.ID)
		if err != nil {
			return err
		}
		var seen []devicedb.ShareEntry
		missing := 0
		for _, e := range entries {
			if e.SeenIn != "" {
				continue
			}
			var in bool
			switch e.Kind {
			case devicedb.ShareEntrySeed:
				in = len(e.Value) == pact.SeedSize && tuples[tupleID{pact.Seed(e.Value), e.Start, e.End}]
			case devicedb.ShareEntryFindMy:
				in = len(e.Value) == findmy.KeySize && keys[keyID{findmy.Key(e.Value), e.Start, e.End}]
			}
			if in {
				seen = append(seen, e)
			} else {
				missing++
			}
		}
		// Only a batch whose period began after the upload must hold it; an
		// earlier one may have been cut before the upload arrived.
		after := !b.PeriodStart.Time().Before(sh.Created.Add(t.opts.Skew))
		// A batch observed again (a sync retried after a failure) counts once.
		counted := after && missing > 0 && b.Sequence > sh.CountedThrough
		check := devicedb.ShareCheck{ShareID: sh.ID, BatchID: b.ID, Sequence: b.Sequence, Seen: seen, Counted: counted, Status: sh.Status, At: now}
		switch {
		case missing == 0:
			check.Status = devicedb.ShareConfirmed
		case len(seen) > 0 && (sh.Status == devicedb.ShareSending || sh.Status == devicedb.ShareUnanswered):
			// Part of it is published, so the server did store it.
			check.Status = devicedb.SharePending
		}
		if check.Status == devicedb.SharePending && check.Counted && sh.BatchesWithout+1 >= t.opts.Batches {
			check.Status = devicedb.ShareSuspected
		}
		if len(seen) == 0 && !check.Counted && check.Status == sh.Status {
			continue
		}
		if err := t.db.RecordShareCheck(ctx, check); err != nil {
			return err
		}
		switch {
		case check.Status == devicedb.ShareConfirmed:
			t.opts.Logger.Info("share confirmed in a signed batch", "share", sh.ID, "server", server, "batch", b.ID)
		case check.Status == devicedb.ShareSuspected && sh.Status != devicedb.ShareSuspected:
			t.opts.Logger.Warn("share is missing from the server's batches: the upload may have been suppressed",
				"share", sh.ID, "server", server, "region", b.Region, "batches_without", sh.BatchesWithout+1, "missing_entries", missing)
		}
	}
	return nil
}

// CheckOverdue marks suspected every stored share that has waited longer
// than MaxWait for its batch, and returns them. Observe calls it; a node
// that may see no batch at all (a server that stopped publishing) calls it
// on a timer too.
func (t *Tracker) CheckOverdue(ctx context.Context) ([]Record, error) {
	now := t.opts.Clock.Now()
	late, err := t.db.OverdueShares(ctx, now.Add(-t.opts.MaxWait))
	if err != nil {
		return nil, err
	}
	for i, sh := range late {
		if err := t.db.RecordShareCheck(ctx, devicedb.ShareCheck{ShareID: sh.ID, Status: devicedb.ShareSuspected, At: now}); err != nil {
			return nil, fmt.Errorf("share: marking share %d overdue: %w", sh.ID, err)
		}
		late[i].Status = devicedb.ShareSuspected
		t.opts.Logger.Warn("share has not appeared in any batch within the time limit: the upload may have been suppressed",
			"share", sh.ID, "server", sh.Server, "region", sh.Region, "uploaded", sh.Created, "limit", t.opts.MaxWait)
	}
	return late, nil
}

// Status returns the most recent shares, newest first, at most limit.
func (t *Tracker) Status(ctx context.Context, limit int) ([]Record, error) {
	return t.db.Shares(ctx, limit)
}
