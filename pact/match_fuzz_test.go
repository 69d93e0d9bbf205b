package pact

import (
	"errors"
	"slices"
	"testing"
)

// fuzzMatchInput turns bytes into a small contact log and exposure set
// around a base minute that may sit at either end of the minute range.
func fuzzMatchInput(data []byte) (opts MatchOptions, log []Sighting, tuples []Tuple) {
	if len(data) < 5 {
		return opts, nil, nil
	}
	opts.Tolerance = Minute(data[0] % 4)
	opts.ExactMinute = data[0]&0x80 != 0 && opts.Tolerance == 0
	base := Minute(uint32(data[1])<<24 | uint32(data[2])<<16 | uint32(data[3])<<8 | uint32(data[4]))
	seeds := []Seed{{1}, {2}, {3}}
	for rec := data[5:]; len(rec) >= 4; rec = rec[4:] {
		seed := seeds[int(rec[0]>>1)%len(seeds)]
		at := uint64(base) + uint64(rec[2])
		if rec[0]&1 == 0 {
			end := at + uint64(rec[3]%64)
			if end > uint64(^Minute(0)) {
				continue
			}
			tuples = append(tuples, Tuple{Seed: seed, Start: Minute(at), End: Minute(end)})
			continue
		}
		// Up to 4 minutes early and 20 late: past MaxRepeatDelay for
		// repeated sightings.
		heard := int64(at) + int64(rec[3]%25) - 4
		if at > uint64(^Minute(0)) || heard < 0 || heard > int64(^Minute(0)) {
			continue
		}
		src := []Source{SourcePACT, SourceFindMy, SourceRepeater, SourceFindMyRepeater}[rec[1]%4]
		log = append(log, Sighting{Chirp: ChirpAt(&seed, Minute(at)), Minute: Minute(heard), RSSI: int8(rec[1]), Source: src})
	}
	return opts, log, tuples
}

// FuzzMatchAgreesWithNaive checks that the smart matcher reports exactly
// what the naive one does, with no more work, and that every contact is a
// chirp of its tuple heard within the tolerance.
func FuzzMatchAgreesWithNaive(f *testing.F) {
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 10, 50, 1, 60, 20, 4})
	f.Add([]byte{0x80, 0xff, 0xff, 0xff, 0xc0, 0, 0, 0, 63, 1, 200, 40, 4, 3, 0, 62, 8})
	f.Add([]byte{3, 1, 200, 0, 0, 2, 0, 100, 30, 3, 1, 110, 0, 5, 2, 101, 8, 4, 0, 100, 59})
	f.Fuzz(func(t *testing.T, data []byte) {
		opts, log, tuples := fuzzMatchInput(data)
		opts.Workers = 1 + len(data)%2
		m, err := NewMatcher(slices.Values(log), opts)
		if err != nil {
			t.Fatalf("NewMatcher: %v", err)
		}
		var smart, naive []Contact
		sr, serr := m.Match(TupleSeq(tuples), func(c Contact) error { smart = append(smart, c); return nil })
		nr, nerr := m.MatchNaive(TupleSeq(tuples), func(c Contact) error { naive = append(naive, c); return nil })
		if (serr == nil) != (nerr == nil) || (serr != nil && serr.Error() != nerr.Error()) {
			t.Fatalf("smart error %v, naive error %v", serr, nerr)
		}
		if serr != nil && !errors.Is(serr, ErrTimeOrder) && !errors.Is(serr, ErrWindow) && !errors.Is(serr, ErrHourBoundary) {
			t.Fatalf("unexpected error %v", serr)
		}
		if len(smart) != len(naive) {
			t.Fatalf("smart found %d contacts, naive %d", len(smart), len(naive))
		}
		for i := range smart {
			a, b := smart[i], naive[i]
			a.Location, b.Location = nil, nil
			if a != b {
				t.Fatalf("contact %d: smart %+v, naive %+v", i, a, b)
			}
			tu := tuples[a.TupleIndex]
			d := int64(a.Heard) - int64(a.ChirpMinute)
			late := int64(m.Tolerance())
			if a.Source.Indirect() {
				late += int64(MaxRepeatDelay)
			}
			if a.ChirpMinute < tu.Start || a.ChirpMinute > tu.End || d < -int64(m.Tolerance()) || d > late ||
				a.Chirp != ChirpAt(&tu.Seed, a.ChirpMinute) {
				t.Fatalf("contact %+v does not fit tuple %+v", a, tu)
			}
		}
		if !slices.Equal(sr.Days, nr.Days) || !slices.Equal(sr.Indirect, nr.Indirect) {
			t.Fatalf("days differ: smart %+v, naive %+v", sr.Days, nr.Days)
		}
		if sr.Stats.ChirpsComputed > nr.Stats.ChirpsComputed || sr.Stats.KeysDerived > nr.Stats.KeysDerived {
			t.Fatalf("smart did more work than naive: %+v vs %+v", sr.Stats, nr.Stats)
		}
	})
}
