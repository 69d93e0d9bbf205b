package pact

import "context"

// SeedRecord is one entry of the seed log: the seed of one UTC hour and the
// minute it was drawn, which is the first minute it may have been chirped
// (spec §5.1).
type SeedRecord struct {
	Seed  Seed
	Start Minute
}

// Hour returns the first minute of the UTC hour the seed belongs to.
func (r SeedRecord) Hour() Minute { return r.Start.HourStart() }

// SeedStore persists the seed log. Implementations must make PutSeed
// durable before returning, since a chirp computed from a seed that is
// later lost could never be uploaded.
type SeedStore interface {
	// PutSeed stores r unless its hour already has a seed, and returns the
	// record that the hour keeps: r, or the one stored before.
	PutSeed(ctx context.Context, r SeedRecord) (SeedRecord, error)
	// Seeds calls fn for every seed whose hour starts in [from, to], in
	// hour order.
	Seeds(ctx context.Context, from, to Minute, fn func(SeedRecord) error) error
	// DeleteSeedsBefore erases, for good, every seed whose hour starts
	// before m, and returns how many it erased.
	DeleteSeedsBefore(ctx context.Context, m Minute) (int64, error)
}

// ContactStore persists the contact log.
type ContactStore interface {
	// AddSightings stores a batch atomically, keeping one row per
	// (chirp, minute) with the stronger RSSI (MergeRSSI) and the first
	// non-nil location.
	AddSightings(ctx context.Context, batch []Sighting) error
	// Sightings calls fn for every sighting with minute in [from, to], in
	// minute order.
	Sightings(ctx context.Context, from, to Minute, fn func(Sighting) error) error
	// DeleteSightingsBefore erases, for good, every sighting older than m
	// and returns how many it erased.
	DeleteSightingsBefore(ctx context.Context, m Minute) (int64, error)
}

// SealedContactStore is a ContactStore that can keep its contact log
// hidden (spec §9.3): per sighting a minute, a lookup tag and the other
// fields sealed under the chirp. LoadMatcher reads such a store through
// SealedSightings when ContactLogSealed says the log is hidden.
type SealedContactStore interface {
	ContactStore
	// ContactLogSealed reports whether the log is kept sealed.
	ContactLogSealed(ctx context.Context) (bool, error)
	// SealedSightings calls fn for every sealed sighting with minute in
	// [from, to], in minute order.
	SealedSightings(ctx context.Context, from, to Minute, fn func(SealedSighting) error) error
}
