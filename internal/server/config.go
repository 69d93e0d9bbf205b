// Package server is the HTTP side of the exposure database (docs/api.md):
// uploads paid for with permission numbers, signed batch downloads, the
// batch cutter and the retention cleanup.
package server

import (
	"time"

	"github.com/pact-findmy/pact-findmy/internal/database"
	"github.com/pact-findmy/pact-findmy/pact"
)

// Config tunes the server. Zero fields take the defaults of DefaultConfig.
type Config struct {
	// PeriodMinutes is the batch period: the unit of time in which uploads
	// are grouped, and the only precision at which their arrival is kept.
	PeriodMinutes uint32
	// UploadRetention is how long uploads and batches are kept.
	UploadRetention time.Duration
	// TupleRetention bounds the age of any stored tuple (spec §5: 90 days).
	// Uploads accept tuples no older than TupleRetention - UploadRetention,
	// so that no tuple outlives it while its batch is still served.
	TupleRetention time.Duration
	// Skew is how far in the future a tuple may end, for fast clocks.
	Skew time.Duration
	// MaxBodyBytes bounds an upload request body.
	MaxBodyBytes int64
	// MaxTuples bounds the tuples of one upload.
	MaxTuples int
	// Regions, when not empty, are the only regions accepted.
	Regions []string
	// FailuresPerHour is how many refused permission numbers one client
	// network (IPv4 address or IPv6 /64) may send per hour before it gets 429.
	FailuresPerHour int
	// FindMyProofsPerMinute bounds the Find My proofs of possession one
	// client network may make the server verify per minute (0.66 to 2 ms
	// each, docs/findmy.md §8.3): its uploads with keys get 429 past it.
	// Each network may start with at least MaxFindMyKeys.
	FindMyProofsPerMinute int
	// ResponseBytes is the size every upload response is padded to.
	ResponseBytes int
	// ExportDir, when set, receives every batch and index as static files.
	ExportDir string
	// TrustedProxies are the addresses whose X-Forwarded-For is believed
	// (for rate limiting only).
	TrustedProxies []string
	// HoldUploads is k of docs/api.md, "Holding and chaff": a region's
	// uploads are held until there are k of them (or MaxHold passes), so
	// that a batch links no fewer than k people's seeds. 1 publishes every
	// period's uploads at once.
	HoldUploads int
	// MaxHold is how long an upload may wait for k-1 others before its
	// batch is published anyway.
	MaxHold time.Duration
	// NoChaff turns off padding batches with chaff to a bucket size; for
	// tests that count entries.
	NoChaff bool
}

// DefaultConfig returns the defaults of docs/api.md.
func DefaultConfig() Config {
	return Config{
		PeriodMinutes:   10,
		UploadRetention: 21 * 24 * time.Hour,
		TupleRetention:  time.Duration(pact.DefaultRetention) * time.Minute,
		Skew:            2 * time.Minute,
		// The largest upload a device sends, 2160 tuples and 4076 Find My
		// keys with their proofs, is about 1.2 MB of JSON
		// (TestLargestUploadFitsTheBodyLimit).
		MaxBodyBytes:    2 << 20,
		MaxTuples:       2160,
		FailuresPerHour: 20,
		// One largest upload per minute: 3.4 s of CPU on a loaded
		// two-core machine (docs/performance.md).
		FindMyProofsPerMinute: MaxFindMyKeys,
		ResponseBytes:         512,
		HoldUploads:           5,
		MaxHold:               24 * time.Hour,
	}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	orDefault(&c.PeriodMinutes, d.PeriodMinutes)
	orDefault(&c.UploadRetention, d.UploadRetention)
	orDefault(&c.TupleRetention, d.TupleRetention)
	orDefault(&c.Skew, d.Skew)
	orDefault(&c.MaxBodyBytes, d.MaxBodyBytes)
	orDefault(&c.MaxTuples, d.MaxTuples)
	// A list longer than the spec's limit could be accepted but never
	// decoded again (spec §6.1).
	c.MaxTuples = min(c.MaxTuples, pact.MaxTuplesPerList)
	orDefault(&c.FailuresPerHour, d.FailuresPerHour)
	orDefault(&c.FindMyProofsPerMinute, d.FindMyProofsPerMinute)
	orDefault(&c.ResponseBytes, d.ResponseBytes)
	orDefault(&c.HoldUploads, d.HoldUploads)
	orDefault(&c.MaxHold, d.MaxHold)
	return c
}

// orDefault sets a zero *v to d.
func orDefault[T comparable](v *T, d T) {
	var zero T
	if *v == zero {
		*v = d
	}
}

// PeriodStart returns the first minute of the period containing m.
func (c Config) PeriodStart(m pact.Minute) pact.Minute {
	return m - m%pact.Minute(c.PeriodMinutes)
}

// CutPolicy is the holding rule for a cut at now.
func (c Config) CutPolicy(now pact.Minute) database.CutPolicy {
	return database.CutPolicy{
		Cutoff: c.PeriodStart(now), PeriodMinutes: c.PeriodMinutes,
		MinUploads: c.HoldUploads, MaxHold: pact.Minute(c.MaxHold / time.Minute),
	}
}

// AcceptHorizon is the oldest tuple start accepted at now.
func (c Config) AcceptHorizon(now pact.Minute) pact.Minute {
	window := pact.Minute((c.TupleRetention - c.UploadRetention) / time.Minute)
	if now < window {
		return 0
	}
	return now - window
}
