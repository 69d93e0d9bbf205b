package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/pact-findmy/pact-findmy/internal/devicedb"
)

// BenchmarkReplay measures a whole replay through the command line, the
// same path as scripts/bench-replay.sh but inside the test binary: a
// synthetic crowd capture to nothing (parsing and counting), to JSON lines
// and to a fresh contact log.
func BenchmarkReplay(b *testing.B) {
	const reports = 100_000
	dir := b.TempDir()
	capture := filepath.Join(dir, "crowd.btsnoop")
	if code := run(context.Background(), []string{"synth", "--count", strconv.Itoa(reports), "--out", capture}, io.Discard, io.Discard); code != 0 {
		b.Fatalf("synth exited %d", code)
	}
	// One report a minute apart: every sighting is a row of its own, the
	// contact log's worst case.
	distinct := filepath.Join(dir, "distinct.btsnoop")
	if code := run(context.Background(), []string{"synth", "--count", strconv.Itoa(reports), "--gap", "1m", "--out", distinct}, io.Discard, io.Discard); code != 0 {
		b.Fatalf("synth exited %d", code)
	}
	for _, bc := range []struct {
		name    string
		args    []string
		db      bool
		capture string
		hidden  bool // the contact log is hidden (spec §9.3) before the replay
	}{
		{"parse", nil, false, capture, false},
		{"jsonl", []string{"--format", "jsonl"}, false, capture, false},
		{"sqlite", nil, true, capture, false},
		{"sqlite-distinct", nil, true, distinct, false},
		{"sqlite-hidden", nil, true, capture, true},
		{"sqlite-distinct-hidden", nil, true, distinct, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			n := 0
			for b.Loop() {
				args := append([]string{"replay", "--stats-interval", "0"}, bc.args...)
				if bc.db {
					path := filepath.Join(dir, fmt.Sprintf("%s-%d.db", bc.name, n))
					if bc.hidden {
						b.StopTimer()
						hideNewLog(b, path)
						b.StartTimer()
					}
					args = append(args, "--db", path)
				}
				n++
				if code := run(context.Background(), append(args, bc.capture), io.Discard, io.Discard); code != 0 {
					b.Fatalf("replay %q exited %d", args, code)
				}
			}
			b.ReportMetric(float64(reports)*float64(n)/b.Elapsed().Seconds(), "reports/s")
		})
	}
}

// hideNewLog creates a device database at path with its contact log hidden.
func hideNewLog(b *testing.B, path string) {
	db, err := devicedb.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := db.HideContactLog(context.Background(), time.Now()); err != nil {
		b.Fatal(err)
	}
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
}
