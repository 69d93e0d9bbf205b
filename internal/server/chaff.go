package server

import (
	"crypto/rand"
	"fmt"
	"math/big"

	"github.com/pact-findmy/pact-findmy/findmy"
	"github.com/pact-findmy/pact-findmy/internal/batch"
	"github.com/pact-findmy/pact-findmy/internal/database"
	"github.com/pact-findmy/pact-findmy/pact"
)

// Padding of a batch with chaff (docs/api.md, "Holding and chaff").
//
// A batch's tuple count is padded to the next bucket: TupleBucket(k) =
// k full default uploads (k * 21 days * 24 seed-hours), then twice,
// four times ... that. Its Find My key count, when not zero, is padded
// the same way in units of FindMyBucket (one device's 15-minute keys over
// 21 days). So the entry counts and the size say only which bucket the
// batch fell in, not how many uploads it holds.
//
// Chaff comes as whole fake uploads: each copies the windows and flags of
// a real upload of the same batch (drawn at random), with fresh random
// seeds and keys, so that every per-entry feature (start minute, span,
// hour, reverse flag, secondary flag) has the distribution of the real
// entries, and the number of entries per hour grows in whole-upload
// steps as real uploads make it. The last fake upload is cut short to hit
// the bucket exactly, as an upload of a shorter consent window is.

// TupleBucket is the smallest tuple bucket for holding k uploads.
func TupleBucket(k int) int { return max(k, 1) * pact.DefaultBundleDays * 24 }

// FindMyBucket is the smallest Find My bucket: one device's keys of
// 15 minutes over the default bundle.
const FindMyBucket = pact.DefaultBundleDays * 24 * 4

// padTo returns the smallest base * 2^j that is at least n, or 0 for 0.
func padTo(n, base int) int {
	if n == 0 {
		return 0
	}
	b := base
	for b < n {
		b *= 2
	}
	return b
}

// span is where one real upload's entries lie in a batch.
type span struct{ off, n int }

// chaffer adds chaff to batches.
type chaffer struct {
	tupleBase int
	// findMyBase is FindMyBucket except in tests, which keep the number
	// of proofs signed small.
	findMyBase int
	// random is crypto/rand.Reader except in tests that need repeatable
	// picks; seeds and keys always come from it.
	random interface{ Read([]byte) (int, error) }
}

// pad adds chaff to b, whose entries came from uploads of the given
// shapes, until its tuples and Find My keys reach their buckets.
func (c chaffer) pad(b *batch.Batch, shapes []database.UploadShape) error {
	tupleTarget := padTo(len(b.Tuples), c.tupleBase)
	fmTarget := padTo(len(b.FindMy), c.findMyBase)
	var tupleSpans, fmSpans []span
	toff, foff := 0, 0
	for _, s := range shapes {
		if s.Tuples > 0 {
			tupleSpans = append(tupleSpans, span{toff, s.Tuples})
		}
		if s.FindMy > 0 {
			fmSpans = append(fmSpans, span{foff, s.FindMy})
		}
		toff, foff = toff+s.Tuples, foff+s.FindMy
	}
	if toff != len(b.Tuples) || foff != len(b.FindMy) {
		return fmt.Errorf("chaff for batch %s: upload shapes add up to %d tuples and %d keys, the batch has %d and %d", b.Region, toff, foff, len(b.Tuples), len(b.FindMy))
	}
	lo, hi := c.arrivals(b, tupleSpans)
	for len(b.Tuples) < tupleTarget {
		sp := tupleSpans[c.intn(len(tupleSpans))]
		arrival := lo + pact.Minute(c.intn(int(hi-lo)+1))
		if err := c.fakeUpload(b, sp.off, sp.n, tupleTarget-len(b.Tuples), arrival); err != nil {
			return fmt.Errorf("chaff for batch %s: %w", b.Region, err)
		}
	}
	for len(b.FindMy) < fmTarget {
		sp := fmSpans[c.intn(len(fmSpans))]
		n := min(sp.n, fmTarget-len(b.FindMy))
		for i := sp.off; i < sp.off+n; i++ {
			k := b.FindMy[i]
			fake, err := c.provenKey(b.Region, k)
			if err != nil {
				return fmt.Errorf("chaff for batch %s: %w", b.Region, err)
			}
			b.FindMy = append(b.FindMy, fake)
		}
	}
	return nil
}

// fakeUpload appends at most room tuples shaped like the real upload
// b.Tuples[off:off+n] as if it had arrived at another minute of the
// batch's span: the same run of hours and reverse marks, moved by whole
// hours so that it ends in the hour of that minute, with a fresh seed for
// every hour. A partial first or last hour gets a new random start or end
// minute, so that fakes do not repeat the real uploads' minutes (which
// would tell how many real ones there are). A fake cut short by room
// loses its oldest hours, as an upload of a shorter consent window has.
func (c chaffer) fakeUpload(b *batch.Batch, off, n, room int, arrival pact.Minute) error {
	tmpl := b.Tuples[off : off+n]
	last := lastEnd(tmpl)
	shift := int64(arrival.HourStart()) - int64(last.HourStart())
	skip := max(0, n-room)
	for i := skip; i < n; i++ {
		t := tmpl[i]
		hour := pact.Minute(int64(t.Start.HourStart()) + shift)
		startMin, endMin := t.Start-t.Start.HourStart(), t.End-t.Start.HourStart()
		if i == skip && startMin != 0 {
			startMin = pact.Minute(c.intn(int(endMin) + 1))
		}
		if i == n-1 && endMin != pact.MinutesPerHour-1 {
			endMin = startMin + pact.Minute(c.intn(int(pact.MinutesPerHour-startMin)))
		}
		fake := pact.Tuple{Start: hour + startMin, End: hour + endMin}
		if _, err := c.random.Read(fake.Seed[:]); err != nil {
			return err
		}
		b.Tuples = append(b.Tuples, fake)
		if b.Reverse != nil {
			b.Reverse = append(b.Reverse, b.Reverse[off+i])
		}
	}
	return nil
}

// arrivals returns the minutes at which fakes arrive, uniformly: the day
// up to the newest real upload's last minute (the holding window, since
// an upload waits at most a day), but not before the batch's span.
func (c chaffer) arrivals(b *batch.Batch, uploads []span) (lo, hi pact.Minute) {
	for i, sp := range uploads {
		end := lastEnd(b.Tuples[sp.off : sp.off+sp.n])
		if i == 0 || end > hi {
			hi = end
		}
	}
	lo = hi - min(hi, pact.MinutesPerDay-1)
	if b.PeriodStart > lo && b.PeriodStart <= hi {
		lo = b.PeriodStart
	}
	return lo, hi
}

func lastEnd(ts []pact.Tuple) pact.Minute {
	var m pact.Minute
	for _, t := range ts {
		m = max(m, t.End)
	}
	return m
}

// intn returns a uniform integer in [0, n).
func (c chaffer) intn(n int) int {
	v, err := rand.Int(c.random, big.NewInt(int64(n)))
	if err != nil {
		return 0
	}
	return int(v.Int64())
}

// provenKey returns a chaff key shaped like k: the key of a fresh random
// private scalar (so uniform over advertised keys, as a real key, the x of
// d*G for a random d, is), with k's window and flags, and a proof of
// possession made with that scalar (docs/findmy.md §8). A device checks
// every proof before matching, so a chaff key without one would stand out
// from the real keys; with one it is a key nobody advertised, which
// matches nothing.
func (c chaffer) provenKey(region string, k batch.FindMyKey) (batch.FindMyKey, error) {
	var raw [findmy.KeySize]byte
	for {
		if _, err := c.random.Read(raw[:]); err != nil {
			return batch.FindMyKey{}, err
		}
		d, err := findmy.NewPrivateKey(raw[:])
		if err != nil {
			continue // 0 or not below n: draw again
		}
		kind := findmy.PrimaryKey
		if k.Secondary {
			kind = findmy.SecondaryKey
		}
		key := d.Public().Key()
		proof, err := findmy.SignProof(d, findmy.Statement{Key: key, Kind: kind, Start: uint32(k.Start), End: uint32(k.End), Region: region})
		if err != nil {
			return batch.FindMyKey{}, err
		}
		return batch.FindMyKey{Key: key, Start: k.Start, End: k.End, Reverse: k.Reverse, Secondary: k.Secondary, Proof: proof}, nil
	}
}
