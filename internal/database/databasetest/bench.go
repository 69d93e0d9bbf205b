package databasetest

import (
	"context"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/pact-findmy/pact-findmy/internal/batch"
	"github.com/pact-findmy/pact-findmy/internal/database"
	"github.com/pact-findmy/pact-findmy/pact"
)

// BenchmarkCut measures CutBatches over one period holding seedHours
// seed-hours in uploads of three weeks (504 each): reading the uploads,
// sorting, encoding, signing and storing the batch. It reports the batch
// size per seed-hour. Run it with -benchtime 1x; each iteration stores its
// uploads afresh, outside the timer.
func BenchmarkCut(b *testing.B, open func(b *testing.B) database.Store, seedHours int) {
	const perUpload = 504
	uploads := (seedHours + perUpload - 1) / perUpload
	ctx := context.Background()
	var size, entries int
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		s := open(b)
		hashes := make([][]byte, uploads)
		for j := range hashes {
			hashes[j] = []byte(fmt.Sprintf("bench %d %d", i, j))
		}
		if _, err := s.IssuePermissions(ctx, "bench", hashes, now, now.Add(time.Hour)); err != nil {
			b.Fatal(err)
		}
		p := pact.MinuteOf(now) / period * period
		last := pact.MinuteOf(now).HourStart()
		for j, h := range hashes {
			n := min(perUpload, seedHours-j*perUpload)
			ts := make([]pact.Tuple, n)
			for k := range ts {
				rand.Read(ts[k].Seed[:])
				ts[k].Start = last - pact.Minute(perUpload-k)*60
				ts[k].End = ts[k].Start + 59
			}
			if err := s.SpendAndStore(ctx, h, now, &database.Upload{Region: "CH", PeriodStart: p, Tuples: ts}); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		infos, err := s.CutBatches(ctx, database.CutPolicy{Cutoff: p + period, PeriodMinutes: period}, func(b *batch.Batch, _ []database.UploadShape) ([]byte, error) {
			return batch.EncodeBatch(b, testKey)
		})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if len(infos) != 1 || int(infos[0].Entries) != seedHours {
			b.Fatalf("cut %+v, want one batch of %d entries", infos, seedHours)
		}
		size, entries = infos[0].Size, int(infos[0].Entries)
		s.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(size)/float64(entries), "bytes/seed-hour")
}

// BenchmarkSpendAnswer measures how long one upload of three weeks (504
// seed-hours), alone, waits for its answer when its number is spent
// ("stored") and when it is refused as unknown ("refused"). The two must
// not differ by more than noise: the delay would tell them apart
// (docs/api.md, "Timing").
func BenchmarkSpendAnswer(b *testing.B, open func(b *testing.B) database.Store) {
	ctx := context.Background()
	p := pact.MinuteOf(now)
	up := upload("CH", p, tuples(pact.DefaultBundleDays*24, 1))
	for _, refused := range []bool{false, true} {
		name := "stored"
		if refused {
			name = "refused"
		}
		b.Run(name, func(b *testing.B) {
			s := open(b)
			defer s.Close()
			hashes := make([][]byte, b.N)
			for i := range hashes {
				hashes[i] = hashOf(i)
			}
			if _, err := s.IssuePermissions(ctx, "Lab", hashes, now, now.Add(time.Hour)); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := range b.N {
				hash := hashes[i]
				if refused {
					hash = []byte("no such number")
				}
				if err := s.SpendAndStore(ctx, hash, now, up); refused != (err != nil) {
					b.Fatalf("upload %d: %v", i, err)
				}
			}
		})
	}
}
