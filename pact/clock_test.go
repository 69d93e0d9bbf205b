package pact

import (
	"testing"
	"time"
)

// heardMinuteOffsets returns the smallest and largest h - t over every
// moment a chirp of minute t is on the air, for clocks within clockErr of
// UTC and a switch within jitter of the minute boundary (spec §2), in
// steps of one second.
func heardMinuteOffsets(clockErr, jitter time.Duration) (lo, hi int64) {
	const t = 1000 // any minute; the offsets do not depend on it
	e, j := int64(clockErr/time.Second), int64(jitter/time.Second)
	lo, hi = 1<<62, -1<<62
	for sender := -e; sender <= e; sender++ {
		for receiver := -e; receiver <= e; receiver++ {
			// By the sender's clock the chirp of t is on the air from the
			// switch at 60t+u to the next switch at 60(t+1)+u', u and u'
			// in [-j, j); the extreme moments are the first second after
			// the earliest switch and the last before the latest one.
			for _, onAir := range []int64{60*t - j, 60*(t+1) + j - 1} {
				utc := onAir - sender
				heard := floorDiv(utc+receiver, 60)
				lo, hi = min(lo, heard-t), max(hi, heard-t)
			}
		}
	}
	return lo, hi
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// TestClockToleranceCoversSpecClocks checks that spec §2's clock rule and
// the matcher's default tolerance agree (matching.md §8.1): with clocks
// within MaxClockError and a switch within 30 s of the boundary, the
// minute heard is never more than DefaultMatchTolerance from the chirp's
// minute, and the earlier rule ("within a minute") needed a tolerance of 2.
func TestClockToleranceCoversSpecClocks(t *testing.T) {
	for _, tc := range []struct {
		name             string
		clockErr, jitter time.Duration
		wantLo, wantHi   int64
	}{
		{"spec §2: 15 s clocks, frame v2 switch within 30 s", MaxClockError, 30 * time.Second, -1, 1},
		{"spec §2: 15 s clocks, frame v1 switch at the boundary", MaxClockError, 0, -1, 1},
		{"the earlier rule: clocks within a minute", time.Minute, 30 * time.Second, -3, 3},
		{"clocks within a minute, switch at the boundary", time.Minute, 0, -2, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lo, hi := heardMinuteOffsets(tc.clockErr, tc.jitter)
			if lo != tc.wantLo || hi != tc.wantHi {
				t.Fatalf("minute heard - chirp minute in [%d, %d], want [%d, %d]", lo, hi, tc.wantLo, tc.wantHi)
			}
			fits := -lo <= int64(DefaultMatchTolerance) && hi <= int64(DefaultMatchTolerance)
			if spec := tc.clockErr <= MaxClockError; fits != spec {
				t.Fatalf("τ = %d covers these clocks: %v; want %v", DefaultMatchTolerance, fits, spec)
			}
		})
	}
}
