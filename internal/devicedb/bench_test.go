package devicedb

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/pact-findmy/pact-findmy/pact"
)

// BenchmarkAddSightings measures bulk loading of the contact log in the
// batch size the harvester flushes.
func BenchmarkAddSightings(b *testing.B) {
	for _, batch := range []int{1000, 10000} {
		b.Run(map[int]string{1000: "batch=1000", 10000: "batch=10000"}[batch], func(b *testing.B) {
			db, err := Open(filepath.Join(b.TempDir(), "bench.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			ss := make([]pact.Sighting, batch)
			n := 0
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for j := range ss {
					n++
					ss[j] = pact.Sighting{Minute: pact.Minute(29_000_000 + n/2000), RSSI: -70, Source: pact.SourceFindMy}
					ss[j].Chirp[0], ss[j].Chirp[1], ss[j].Chirp[2], ss[j].Chirp[3] = byte(n), byte(n>>8), byte(n>>16), byte(n>>24)
				}
				if err := db.AddSightings(context.Background(), ss); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "sightings/s")
		})
	}
}
