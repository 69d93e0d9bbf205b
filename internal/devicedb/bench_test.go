package devicedb

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/pact-findmy/pact-findmy/pact"
)

// BenchmarkAddSightings measures bulk loading of the contact log in the
// batch sizes the harvester flushes, every sighting a new row (the
// harvester's worst case), with the dashboard aggregates kept up to date.
// merge=half repeats every other row of a batch, stronger, so that every
// chunk takes the merging path; mode=hidden stores the log sealed (spec
// §9.3).
func BenchmarkAddSightings(b *testing.B) {
	for _, bc := range []struct {
		batch  int
		merge  bool
		hidden bool
	}{{1000, false, false}, {10000, false, false}, {10000, true, false}, {10000, false, true}, {10000, true, true}} {
		name := fmt.Sprintf("batch=%d", bc.batch)
		if bc.hidden {
			name += "/mode=hidden"
		}
		if bc.merge {
			name += "/merge=half"
		}
		b.Run(name, func(b *testing.B) {
			db, err := Open(filepath.Join(b.TempDir(), "bench.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			if bc.hidden {
				if _, err := db.HideContactLog(context.Background(), time.Now()); err != nil {
					b.Fatal(err)
				}
			}
			ss := make([]pact.Sighting, bc.batch)
			n := 0
			rows := 0
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for j := range ss {
					if bc.merge && j%2 == 1 {
						// Repeat the row before it, stronger: a merge.
						ss[j] = ss[j-1]
						ss[j].RSSI += 5
						continue
					}
					n++
					ss[j] = pact.Sighting{Minute: pact.Minute(29_000_000 + n/2000), RSSI: int8(-40 - n%60), Source: pact.SourceFindMy}
					ss[j].Chirp[0], ss[j].Chirp[1], ss[j].Chirp[2], ss[j].Chirp[3] = byte(n), byte(n>>8), byte(n>>16), byte(n>>24)
				}
				if err := db.AddSightings(context.Background(), ss); err != nil {
					b.Fatal(err)
				}
				rows += len(ss)
			}
			b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "sightings/s")
		})
	}
}
