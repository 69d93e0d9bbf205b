package server

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"math"
	mrand "math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/pact-findmy/pact-findmy/exposureclient"
	"github.com/pact-findmy/pact-findmy/findmy"
	"github.com/pact-findmy/pact-findmy/internal/batch"
	"github.com/pact-findmy/pact-findmy/internal/database"
	"github.com/pact-findmy/pact-findmy/pact"
)

// realUpload returns the tuples of one diagnosed user's upload as
// internal/share builds it: one seed per hour over days of consent ending
// at end, the first and last hour partial, and the hours inside
// [revFrom, revTo] marked for reverse tracing.
func realUpload(rng *mrand.Rand, end pact.Minute, days int, revFrom, revTo pact.Minute) ([]pact.Tuple, []bool) {
	hours := days * 24
	first := end.HourStart() - pact.Minute(hours-1)*60
	var ts []pact.Tuple
	var rev []bool
	for h := range hours {
		var t pact.Tuple
		binary.LittleEndian.PutUint64(t.Seed[:], rng.Uint64())
		binary.LittleEndian.PutUint64(t.Seed[8:], rng.Uint64())
		binary.LittleEndian.PutUint64(t.Seed[16:], rng.Uint64())
		binary.LittleEndian.PutUint64(t.Seed[24:], rng.Uint64())
		t.Start = first + pact.Minute(h)*60
		t.End = t.Start + 59
		if h == 0 {
			t.Start += pact.Minute(rng.IntN(60))
		}
		if h == hours-1 {
			t.End = t.Start + pact.Minute(rng.IntN(60))
		}
		ts = append(ts, t)
		rev = append(rev, revTo > 0 && revFrom <= t.Start && t.End <= revTo)
	}
	return ts, rev
}

// heldBatch builds what a cut claims from uploads of the given lengths in
// days: the batch and the shapes.
func heldBatch(rng *mrand.Rand, days []int) (*batch.Batch, []database.UploadShape) {
	b := &batch.Batch{Header: batch.Header{Region: "CH", Sequence: 1, PeriodStart: 29_000_000 - pact.MinutesPerDay, PeriodMinutes: pact.MinutesPerDay}}
	var shapes []database.UploadShape
	end := pact.Minute(29_000_000)
	for i, d := range days {
		var from, to pact.Minute
		if i%2 == 0 { // half the uploaders consent to reverse tracing of their last 3 days
			from, to = end-3*pact.MinutesPerDay, end
		}
		ts, rev := realUpload(rng, end-pact.Minute(rng.IntN(600)), d, from, to)
		b.Tuples = append(b.Tuples, ts...)
		b.Reverse = append(b.Reverse, rev...)
		shapes = append(shapes, database.UploadShape{Tuples: len(ts)})
	}
	b.Uploads = uint32(len(days))
	return b, shapes
}

func TestChaffPadsToTheBucket(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(1, 2))
	base := TupleBucket(5)
	cases := []struct {
		name string
		days []int
		want int
	}{
		{"one short upload", []int{2}, base},
		{"k full uploads fill the first bucket", []int{21, 21, 21, 21, 21}, base},
		{"one seed-hour over", nil, 2 * base},
		{"seven mixed uploads", []int{21, 14, 21, 3, 21, 21, 10}, 2 * base},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, shapes := heldBatch(rng, tc.days)
			if tc.days == nil {
				b, shapes = heldBatch(rng, []int{21, 21, 21, 21, 21})
				extra, rev := realUpload(rng, 29_000_000, 1, 0, 0)
				b.Tuples, b.Reverse = append(b.Tuples, extra[0]), append(b.Reverse, rev[0])
				shapes = append(shapes, database.UploadShape{Tuples: 1})
			}
			real := slices.Clone(b.Tuples)
			if err := (chaffer{tupleBase: base, findMyBase: FindMyBucket, random: rand.Reader}).pad(b, shapes); err != nil {
				t.Fatal(err)
			}
			if len(b.Tuples) != tc.want || len(b.Reverse) != len(b.Tuples) {
				t.Fatalf("%d real tuples padded to %d (%d reverse flags), want %d", len(real), len(b.Tuples), len(b.Reverse), tc.want)
			}
			if !slices.Equal(b.Tuples[:len(real)], real) {
				t.Fatal("padding changed the real tuples")
			}
			seen := map[pact.Seed]bool{}
			for _, tu := range b.Tuples {
				if seen[tu.Seed] {
					t.Fatalf("seed %s twice: chaff must have fresh seeds", tu.Seed)
				}
				seen[tu.Seed] = true
			}
		})
	}
}

// TestChaffIsIndistinguishable checks what the format shows of an entry:
// its seed, its window (hour, start minute, span) and its flags.
//
//   - Per entry: over many padded batches, the share of chaff entries in
//     each class of (partial first hour, partial last hour, reverse) must
//     be the real entries' share, and chaff seed bytes as uniform as real
//     ones (chi-square at the 0.1% level).
//   - Per upload: fakes must not repeat the real uploads' partial minutes,
//     or the number of distinct ones would count the real uploads.
func TestChaffIsIndistinguishable(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(3, 4))
	class := func(tu pact.Tuple, rev bool) int {
		c := 0
		if tu.Start%60 != 0 {
			c = 1 // a partial first hour
		}
		if tu.End-tu.Start.HourStart() != 59 {
			c += 2 // a partial last hour
		}
		if rev {
			c += 4
		}
		return c
	}
	var realCount, chaffCount [8]float64
	var byteCounts [2][256]float64
	repeated, chaffPartials := 0, 0
	for trial := range 40 {
		b, shapes := heldBatch(rng, []int{21, 5, 14, 21, 2, 8, 21})
		real := len(b.Tuples)
		// k = 10: about nine fakes per batch, so that the one cut short
		// to hit the bucket (which keeps its newest, most often reverse
		// marked hours, as a short consent window does) weighs little.
		if err := (chaffer{tupleBase: TupleBucket(10), findMyBase: FindMyBucket, random: rand.Reader}).pad(b, shapes); err != nil {
			t.Fatal(err)
		}
		type partial struct{ hour, minute pact.Minute }
		realEnds := map[partial]bool{}
		for i, tu := range b.Tuples {
			if i < real {
				realCount[class(tu, b.Reverse[i])]++
			} else {
				chaffCount[class(tu, b.Reverse[i])]++
			}
			end := partial{tu.Start.HourStart(), tu.End % 60}
			if end.minute == 59 {
				continue
			}
			if i < real {
				realEnds[end] = true
			} else {
				chaffPartials++
				if realEnds[end] {
					repeated++
				}
			}
			if trial < 4 {
				row := 0
				if i >= real {
					row = 1
				}
				for _, c := range tu.Seed {
					byteCounts[row][c]++
				}
			}
		}
	}
	var realTotal, chaffTotal float64
	for c := range realCount {
		realTotal += realCount[c]
		chaffTotal += chaffCount[c]
	}
	for c := range realCount {
		pr, pc := realCount[c]/realTotal, chaffCount[c]/chaffTotal
		if math.Abs(pr-pc) > 0.01+0.15*pr {
			t.Errorf("class %03b: %.4f of real entries, %.4f of chaff", c, pr, pc)
		}
	}
	if chaffPartials == 0 || float64(repeated) > 0.1*float64(chaffPartials) {
		t.Errorf("%d of %d partial last hours of chaff repeat a real upload's minute", repeated, chaffPartials)
	}
	if stat, df := chiSquare(byteCounts[:]); stat > chiSquareCritical001(df) {
		t.Errorf("chaff seed bytes differ from real ones: chi-square %.1f, df %d", stat, df)
	}
}

// chiSquare returns Pearson's statistic of independence for the table of
// counts (rows × columns; empty columns dropped) and its degrees of
// freedom.
func chiSquare(rows [][256]float64) (float64, int) {
	cols := len(rows[0])
	rowSum := make([]float64, len(rows))
	colSum := make([]float64, cols)
	total := 0.0
	for r, row := range rows {
		for c := 0; c < cols; c++ {
			rowSum[r] += row[c]
			colSum[c] += row[c]
			total += row[c]
		}
	}
	stat, used := 0.0, 0
	for c := 0; c < cols; c++ {
		if colSum[c] == 0 {
			continue
		}
		used++
		for r, row := range rows {
			want := rowSum[r] * colSum[c] / total
			stat += (row[c] - want) * (row[c] - want) / want
		}
	}
	return stat, (len(rows) - 1) * (used - 1)
}

// chiSquareCritical001 approximates the 99.9% point of chi-square with df
// degrees of freedom (Wilson-Hilferty).
func chiSquareCritical001(df int) float64 {
	const z = 3.0902 // standard normal 99.9%
	k := float64(df)
	x := 1 - 2/(9*k) + z*math.Sqrt(2/(9*k))
	return k * x * x * x
}

// TestChaffFindMyKeys pads 30 keys to a bucket of 64: every chaff key is
// the key of some private scalar, with a window and flags copied from a
// real key and a proof of possession that verifies, as a real key's does.
func TestChaffFindMyKeys(t *testing.T) {
	const bucket = 64
	b := &batch.Batch{Header: batch.Header{Region: "CH"}}
	for i := range 30 {
		k := batch.FindMyKey{Start: pact.Minute(1000 + 15*i), End: pact.Minute(1014 + 15*i), Secondary: i%3 == 0, Reverse: i < 10}
		rand.Read(k.Key[:])
		b.FindMy = append(b.FindMy, k)
	}
	shapes := []database.UploadShape{{FindMy: 20}, {FindMy: 10}}
	if err := (chaffer{tupleBase: TupleBucket(5), findMyBase: bucket, random: rand.Reader}).pad(b, shapes); err != nil {
		t.Fatal(err)
	}
	if len(b.FindMy) != bucket || len(b.Tuples) != 0 {
		t.Fatalf("30 keys padded to %d keys and %d tuples, want %d and 0", len(b.FindMy), len(b.Tuples), bucket)
	}
	for _, k := range b.FindMy[30:] {
		if k.End-k.Start != 14 {
			t.Fatalf("chaff key window %d..%d is not copied from a real upload", k.Start, k.End)
		}
		kind := findmy.PrimaryKey
		if k.Secondary {
			kind = findmy.SecondaryKey
		}
		st := findmy.Statement{Key: k.Key, Kind: kind, Start: uint32(k.Start), End: uint32(k.End), Region: b.Region}
		if err := findmy.VerifyProof(st, findmy.Proof(k.Proof)); err != nil {
			t.Fatalf("chaff key %s: %v: a device that checks proofs could tell it from a real one", k.Key, err)
		}
	}
	if err := (chaffer{tupleBase: 10, findMyBase: bucket, random: rand.Reader}).pad(&batch.Batch{}, nil); err != nil {
		t.Fatalf("an empty batch: %v", err)
	}
}

// TestHoldingAndChaffEndToEnd runs the server with k = 3: two diagnoses
// publish nothing, the third publishes one padded batch without an
// upload count, in which each uploader finds its own seeds.
func TestHoldingAndChaffEndToEnd(t *testing.T) {
	f := newFixture(t, Config{HoldUploads: 3})
	ctx := context.Background()
	first := f.uploadN(t, "CH", 1, 1)
	second := f.uploadN(t, "CH", 1, 2)
	f.clock.Add(10 * time.Minute)
	if infos, err := f.srv.CutOnce(ctx); err != nil || len(infos) != 0 {
		t.Fatalf("cut with 2 uploads held, k = 3: %+v, %v; want nothing", infos, err)
	}
	third := f.uploadN(t, "CH", 1, 3)
	f.clock.Add(10 * time.Minute)
	infos, err := f.srv.CutOnce(ctx)
	if err != nil || len(infos) != 1 {
		t.Fatalf("cut with 3 uploads held: %+v, %v", infos, err)
	}
	if infos[0].Entries != uint32(TupleBucket(3)) {
		t.Fatalf("batch of 3 real tuples has %d entries, want the bucket of %d", infos[0].Entries, TupleBucket(3))
	}
	c, err := exposureclient.New(f.http.URL, f.srv.PublicKey(), nil)
	if err != nil {
		t.Fatal(err)
	}
	refs, err := c.List(ctx, "CH", 0)
	if err != nil || len(refs) != 1 || refs[0].Uploads != 0 {
		t.Fatalf("listing %+v, %v: want one batch and no upload count", refs, err)
	}
	var got *exposureclient.Batch
	if err := c.Sync(ctx, []string{"CH"}, func(b *exposureclient.Batch) error { got = b; return nil }); err != nil {
		t.Fatal(err)
	}
	if got.Uploads != 0 || len(got.Tuples) != TupleBucket(3) {
		t.Fatalf("client batch: %d uploads, %d tuples", got.Uploads, len(got.Tuples))
	}
	for i, own := range [][]pact.Tuple{first, second, third} {
		for _, tu := range own {
			if _, found := slices.BinarySearchFunc(got.Tuples, tu, func(a, b pact.Tuple) int { return bytes.Compare(a.Seed[:], b.Seed[:]) }); !found {
				t.Fatalf("uploader %d's seed %s is not in the batch", i+1, tu.Seed)
			}
		}
	}
}

// BenchmarkPaddingBytesPerDiagnosis measures the bytes a client downloads
// per diagnosis with holding (k = 5, a day at most) and padding, against
// the old cutter (one unpadded batch per 10-minute period that has
// uploads), over a simulated week of a region with the given diagnoses
// per day: Poisson arrivals, each upload three weeks long (504
// seed-hours) with probability 0.7, else 2 to 20 days. Both cutters see
// the same uploads.
func BenchmarkPaddingBytesPerDiagnosis(b *testing.B) {
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32))
	const periodsPerDay, days, k = 144, 7, 5
	for _, perDay := range []float64{1, 3, 10, 30, 100} {
		b.Run(fmt.Sprintf("diagnoses_per_day=%g", perDay), func(b *testing.B) {
			var plain, padded, diagnoses int
			for b.Loop() {
				rng := mrand.New(mrand.NewPCG(uint64(perDay), 9))
				plain, padded, diagnoses = 0, 0, 0
				var held []int
				heldSince := 0
				for period := range periodsPerDay * days {
					var arrived []int
					for range poisson(rng, perDay/periodsPerDay) {
						d := 21
						if rng.Float64() >= 0.7 {
							d = 2 + rng.IntN(19)
						}
						arrived = append(arrived, d)
					}
					diagnoses += len(arrived)
					if len(arrived) > 0 {
						plain += encodedSize(b, rng, arrived, key, 0)
					}
					if len(held) == 0 {
						heldSince = period
					}
					held = append(held, arrived...)
					if len(held) > 0 && (len(held) >= k || period-heldSince >= periodsPerDay) {
						padded += encodedSize(b, rng, held, key, TupleBucket(k))
						held = nil
					}
				}
			}
			b.ReportMetric(float64(plain)/float64(diagnoses), "plain-bytes/diagnosis")
			b.ReportMetric(float64(padded)/float64(diagnoses), "padded-bytes/diagnosis")
			b.ReportMetric(float64(padded)/float64(plain), "ratio")
			b.ReportMetric(float64(diagnoses), "diagnoses")
		})
	}
}

// poisson draws from a Poisson distribution of mean lambda (Knuth).
func poisson(rng *mrand.Rand, lambda float64) int {
	l, k, p := math.Exp(-lambda), 0, 1.0
	for {
		p *= rng.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

// encodedSize returns the size of the batch of uploads of the given days,
// padded to the bucket of base (none for 0).
func encodedSize(b *testing.B, rng *mrand.Rand, days []int, key ed25519.PrivateKey, base int) int {
	bt, shapes := heldBatch(rng, days)
	if base > 0 {
		if err := (chaffer{tupleBase: base, findMyBase: FindMyBucket, random: rand.Reader}).pad(bt, shapes); err != nil {
			b.Fatal(err)
		}
	}
	data, err := batch.EncodeBatch(bt, key)
	if err != nil {
		b.Fatal(err)
	}
	return len(data)
}
