package pact

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
)

// MemStore keeps a seed log and a contact log in memory. It serves
// simulations of many devices in one process and devices that must not
// write to disk; internal/devicedb is the durable store.
type MemStore struct {
	mu       sync.Mutex
	seeds    map[Minute]SeedRecord
	contacts map[contactKey]Sighting
}

type contactKey struct {
	minute Minute
	chirp  Chirp
}

// NewMemStore returns an empty store.
func NewMemStore() *MemStore {
	return &MemStore{seeds: map[Minute]SeedRecord{}, contacts: map[contactKey]Sighting{}}
}

var (
	_ SeedStore    = (*MemStore)(nil)
	_ ContactStore = (*MemStore)(nil)
)

// PutSeed implements SeedStore.
func (s *MemStore) PutSeed(_ context.Context, r SeedRecord) (SeedRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.seeds[r.Hour()]; ok {
		return old, nil
	}
	s.seeds[r.Hour()] = r
	return r, nil
}

// Seeds implements SeedStore.
func (s *MemStore) Seeds(_ context.Context, from, to Minute, fn func(SeedRecord) error) error {
	s.mu.Lock()
	var rs []SeedRecord
	for h, r := range s.seeds {
		if h >= from && h <= to {
			rs = append(rs, r)
		}
	}
	s.mu.Unlock()
	slices.SortFunc(rs, func(a, b SeedRecord) int { return cmp.Compare(a.Hour(), b.Hour()) })
	for _, r := range rs {
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

// DeleteSeedsBefore implements SeedStore.
func (s *MemStore) DeleteSeedsBefore(_ context.Context, m Minute) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for h := range s.seeds {
		if h < m {
			delete(s.seeds, h)
			n++
		}
	}
	return n, nil
}

// AddSightings implements ContactStore.
func (s *MemStore) AddSightings(_ context.Context, batch []Sighting) error {
	for i := range batch {
		if err := batch[i].Validate(); err != nil {
			return fmt.Errorf("sighting %d of %d: %w", i, len(batch), err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, in := range batch {
		// The store keeps its own copy of a location, as a database would,
		// so that a caller reusing its Location cannot rewrite the log.
		in.Location = copyLocation(in.Location)
		k := contactKey{in.Minute, in.Chirp}
		if old, ok := s.contacts[k]; ok {
			old.RSSI = MergeRSSI(old.RSSI, in.RSSI)
			old.TxPower = MergeTxPower(old.TxPower, in.TxPower)
			old.Source = PreferDirect(old.Source, in.Source)
			if old.Location == nil {
				old.Location = in.Location
			}
			in = old
		}
		s.contacts[k] = in
	}
	return nil
}

// Sightings implements ContactStore.
func (s *MemStore) Sightings(_ context.Context, from, to Minute, fn func(Sighting) error) error {
	s.mu.Lock()
	var out []Sighting
	for k, v := range s.contacts {
		if k.minute >= from && k.minute <= to {
			v.Location = copyLocation(v.Location)
			out = append(out, v)
		}
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b Sighting) int {
		if a.Minute != b.Minute {
			return cmp.Compare(a.Minute, b.Minute)
		}
		return slices.Compare(a.Chirp[:], b.Chirp[:])
	})
	for _, v := range out {
		if err := fn(v); err != nil {
			return err
		}
	}
	return nil
}

// DeleteSightingsBefore implements ContactStore.
func (s *MemStore) DeleteSightingsBefore(_ context.Context, m Minute) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for k := range s.contacts {
		if k.minute < m {
			delete(s.contacts, k)
			n++
		}
	}
	return n, nil
}

func copyLocation(l *Location) *Location {
	if l == nil {
		return nil
	}
	c := *l
	return &c
}
