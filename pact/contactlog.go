package pact

import (
	"context"
	"fmt"
)

// ContactLog is a device's contact log (spec §5.2): it records chirps heard
// nearby, one entry per chirp and minute with the strongest RSSI, and
// forgets them after the retention period.
type ContactLog struct {
	store     ContactStore
	clock     Clock
	retention Minute
	minRSSI   int8
	hasMin    bool
	locations bool
	exact     bool
}

// ContactLogOptions configure a ContactLog. The zero value keeps every
// sighting for DefaultRetention on the wall clock, and no location.
type ContactLogOptions struct {
	Clock Clock
	// Retention is how long sightings are kept: zero means
	// DefaultRetention; an owner may shorten it (spec §5.3).
	Retention Minute
	// KeepLocations stores the coarse location of a sighting. It is off
	// unless the owner turns it on (spec §5.2): a seized device must not
	// hold a location diary its owner never asked for. When off, Record
	// drops every location before anything is stored.
	KeepLocations bool
	// MinRSSI, when set, drops sightings weaker than it. Sightings with
	// unknown RSSI are kept, since nothing says they were far.
	MinRSSI *int8
	// ExactLocation keeps locations as given instead of coarsening them
	// (spec §5.2); it matters only with KeepLocations. Set it only over a store that seals its log (spec
	// §9.3.5), where a location opens only with the chirp heard there.
	ExactLocation bool
}

// NewContactLog returns a contact log over store.
func NewContactLog(store ContactStore, opts ContactLogOptions) *ContactLog {
	l := &ContactLog{store: store, clock: opts.Clock, retention: opts.Retention, locations: opts.KeepLocations, exact: opts.ExactLocation}
	if l.clock == nil {
		l.clock = SystemClock{}
	}
	if l.retention == 0 {
		l.retention = DefaultRetention
	}
	l.retention = min(max(l.retention, MinRetention), MaxRetention)
	if opts.MinRSSI != nil {
		l.minRSSI, l.hasMin = *opts.MinRSSI, true
	}
	return l
}

// Record stores the sightings of batch that pass the RSSI threshold and are
// inside the retention period in one atomic write, without their
// locations unless KeepLocations is set, and with them coarsened unless
// ExactLocation is set. It returns how many it kept. An invalid sighting
// rejects the whole batch, so a caller never stores half of what it meant
// to.
func (l *ContactLog) Record(ctx context.Context, batch []Sighting) (int, error) {
	now := MinuteOf(l.clock.Now())
	var horizon Minute
	if now > l.retention {
		horizon = now - l.retention
	}
	kept := make([]Sighting, 0, len(batch))
	for i, s := range batch {
		if err := s.Validate(); err != nil {
			return 0, &EntryError{Index: i, Err: err}
		}
		if s.Minute < horizon || (l.hasMin && s.RSSI != RSSIUnknown && s.RSSI < l.minRSSI) {
			continue
		}
		switch {
		case !l.locations:
			s.Location = nil
		case s.Location != nil && !l.exact:
			c := s.Location.Coarsen()
			s.Location = &c
		}
		kept = append(kept, s)
	}
	if err := l.store.AddSightings(ctx, kept); err != nil {
		return 0, fmt.Errorf("pact: recording %d sightings: %w", len(kept), err)
	}
	return len(kept), nil
}

// Sightings calls fn for every stored sighting with minute in [from, to].
func (l *ContactLog) Sightings(ctx context.Context, from, to Minute, fn func(Sighting) error) error {
	return l.store.Sightings(ctx, from, to, fn)
}

// Expire erases every sighting older than the retention period (spec §5.3).
func (l *ContactLog) Expire(ctx context.Context) (int64, error) {
	now := MinuteOf(l.clock.Now())
	if now < l.retention {
		return 0, nil
	}
	return l.store.DeleteSightingsBefore(ctx, now-l.retention)
}

// EntryError is a batch of sightings that ContactLog.Record refused
// because of one entry: its index in the batch and why (ErrSource,
// ErrLocation). Nothing of the batch is recorded.
type EntryError struct {
	Index int
	Err   error
}

func (e *EntryError) Error() string {
	return fmt.Sprintf("pact: contact log entry %d: %v", e.Index, e.Err)
}

func (e *EntryError) Unwrap() error { return e.Err }
