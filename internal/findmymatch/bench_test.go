package findmymatch

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/pact-findmy/pact-findmy/exposureclient"
	"github.com/pact-findmy/pact-findmy/findmy"
	"github.com/pact-findmy/pact-findmy/internal/devicedb"
	"github.com/pact-findmy/pact-findmy/pact"
)

// Reference workload (docs/performance.md): a 90-day device database with
// 1.5 million contact-log sightings (half of them Find My keys) and 300,000
// partial sightings, against a batch of 4,032 near-owner keys (21 days of
// 15-minute keys of two accessories), 16 of which were heard in full and
// 16 pairs by prefix.
const (
	benchDays     = 90
	benchFull     = 1_500_000
	benchPartial  = 300_000
	benchKeys     = 4032
	benchUploadDy = 21
)

var (
	benchOnce sync.Once
	benchDir  string
	benchDB   *devicedb.DB
	benchSet  []exposureclient.FindMyKey
	benchErr  error
)

func benchFixture(b *testing.B) (*devicedb.DB, []exposureclient.FindMyKey) {
	b.Helper()
	benchOnce.Do(func() {
		benchDir, benchErr = os.MkdirTemp("", "findmymatch-bench")
		if benchErr != nil {
			return
		}
		benchDB, benchSet, benchErr = buildBench(filepath.Join(benchDir, "device.db"))
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchDB, benchSet
}

func TestMain(m *testing.M) {
	code := m.Run()
	if benchDB != nil {
		benchDB.Close()
	}
	if benchDir != "" {
		os.RemoveAll(benchDir)
	}
	os.Exit(code)
}

func buildBench(path string) (*devicedb.DB, []exposureclient.FindMyKey, error) {
	ctx := context.Background()
	db, err := devicedb.Open(path)
	if err != nil {
		return nil, nil, err
	}
	rng := rand.New(rand.NewPCG(1, 2))
	end := t0
	begin := end - benchDays*pact.MinutesPerDay
	randMinute := func() pact.Minute { return begin + pact.Minute(rng.IntN(benchDays*pact.MinutesPerDay)) }
	chunk := make([]pact.Sighting, 0, 50_000)
	for i := range benchFull {
		var c pact.Chirp
		for j := 0; j < len(c); j += 8 {
			v := rng.Uint64()
			for k := 0; k < 8 && j+k < len(c); k++ {
				c[j+k] = byte(v >> (8 * k))
			}
		}
		src := pact.SourcePACT
		if i%2 == 0 {
			src = pact.SourceFindMy
		}
		chunk = append(chunk, pact.Sighting{Chirp: c, Minute: randMinute(), RSSI: int8(-40 - rng.IntN(60)), Source: src})
		if len(chunk) == cap(chunk) {
			if err := db.AddSightings(ctx, chunk); err != nil {
				return nil, nil, err
			}
			chunk = chunk[:0]
		}
	}
	partial := make([]devicedb.PartialSighting, 0, 50_000)
	for range benchPartial {
		var p findmy.Prefix
		v := rng.Uint64()
		for k := range p {
			p[k] = byte(v >> (8 * k))
		}
		partial = append(partial, devicedb.PartialSighting{Minute: randMinute(), Prefix: p, Bits: devicedb.PartialBitsShort, RSSI: -70})
		if len(partial) == cap(partial) {
			if err := db.AddPartialSightings(ctx, partial); err != nil {
				return nil, nil, err
			}
			partial = partial[:0]
		}
	}
	// Two accessories' keys over the last 21 days.
	var keys []exposureclient.FindMyKey
	first := end - benchUploadDy*pact.MinutesPerDay
	for i := range benchKeys {
		var k findmy.Key
		for j := range k {
			k[j] = byte(rng.Uint32())
		}
		start := first + pact.Minute(i/2)*15 + pact.Minute(i%2)*7
		keys = append(keys, exposureclient.FindMyKey{Key: k, Start: start, End: start + 14})
	}
	var planted []pact.Sighting
	var plantedPartial []devicedb.PartialSighting
	for i := 0; i < 16; i++ {
		k := keys[i*200]
		planted = append(planted, pact.Sighting{Chirp: pact.Chirp(k.Key), Minute: k.Start + 3, RSSI: -50, Source: pact.SourceFindMy})
		a, b := keys[i*200+100], keys[i*200+102]
		plantedPartial = append(plantedPartial,
			devicedb.PartialSighting{Minute: a.End, Prefix: a.Key.Prefix(), Bits: 48, RSSI: -55},
			devicedb.PartialSighting{Minute: b.Start, Prefix: b.Key.Prefix(), Bits: 48, RSSI: -55})
	}
	if err := db.AddSightings(ctx, planted); err != nil {
		return nil, nil, err
	}
	if err := db.AddPartialSightings(ctx, plantedPartial); err != nil {
		return nil, nil, err
	}
	return db, keys, nil
}

// BenchmarkMatch is Match on the reference workload.
func BenchmarkMatch(b *testing.B) {
	db, keys := benchFixture(b)
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		ms, err := Match(ctx, db, keys, Options{BatchID: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		if len(ms) != 16+32 {
			b.Fatalf("%d matches, want 48", len(ms))
		}
	}
}

// BenchmarkMatchPerKeyQuery is the baseline: one indexed range query per
// key and log, over the key's span, as a matcher without its own index
// would run.
func BenchmarkMatchPerKeyQuery(b *testing.B) {
	db, keys := benchFixture(b)
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		found := 0
		for _, k := range keys {
			lo, hi := Span(k.Start, k.End, KindOf(&k))
			if err := db.FindMySightings(ctx, lo, hi, func(s pact.Sighting) error {
				if findmy.Key(s.Chirp) == k.Key {
					found++
				}
				return nil
			}); err != nil {
				b.Fatal(err)
			}
			if err := db.PartialSightings(ctx, lo, hi, func(p devicedb.PartialSighting) error {
				if PrefixMatches(&k.Key, &p) {
					found++
				}
				return nil
			}); err != nil {
				b.Fatal(err)
			}
		}
		if found != 16+32 {
			b.Fatalf("%d found, want 48", found)
		}
	}
}

// BenchmarkReadSpans is the floor: reading the rows Match reads, without
// matching them.
func BenchmarkReadSpans(b *testing.B) {
	db, keys := benchFixture(b)
	ctx := context.Background()
	entries := make([]entry, len(keys))
	for i, k := range keys {
		entries[i].lo, entries[i].hi = Span(k.Start, k.End, KindOf(&k))
	}
	b.ResetTimer()
	for b.Loop() {
		rows := 0
		for _, r := range spans(entries) {
			if err := db.FindMySightings(ctx, r.lo, r.hi, func(pact.Sighting) error { rows++; return nil }); err != nil {
				b.Fatal(err)
			}
			if err := db.PartialSightings(ctx, r.lo, r.hi, func(devicedb.PartialSighting) error { rows++; return nil }); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(rows), "rows/op")
	}
}
