package ingest

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/pact-findmy/pact-findmy/internal/devicedb"
)

// BenchmarkRun measures reports -> outputs through a whole Run, per
// report: parsing and counting only, JSON lines, and the contact log
// (the write goroutine committing batches while parsing goes on).
func BenchmarkRun(b *testing.B) {
	const n = 1 << 15
	reports := synthReports(4, time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), 2*time.Millisecond, n)
	for _, bc := range []struct {
		name  string
		jsonl bool
		db    bool
	}{{"count", false, false}, {"jsonl", true, false}, {"sqlite", false, true}} {
		b.Run(bc.name, func(b *testing.B) {
			runs := 0
			b.ReportAllocs()
			for b.Loop() {
				opts := Options{MinRSSI: -128}
				if bc.jsonl {
					opts.JSONL = io.Discard
				}
				if bc.db {
					b.StopTimer()
					db, err := devicedb.Open(filepath.Join(b.TempDir(), fmt.Sprintf("%d.db", runs)))
					if err != nil {
						b.Fatal(err)
					}
					opts.DB = db
					b.StartTimer()
				}
				p, err := New(opts)
				if err != nil {
					b.Fatal(err)
				}
				if err := p.Run(context.Background(), &reportSource{reports: reports}); err != nil {
					b.Fatal(err)
				}
				if opts.DB != nil {
					b.StopTimer()
					opts.DB.Close()
					b.StartTimer()
				}
				runs++
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(runs*n), "ns/report")
		})
	}
}
