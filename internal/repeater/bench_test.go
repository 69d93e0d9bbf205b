package repeater

import (
	"encoding/binary"
	"runtime"
	"testing"
	"time"

	"github.com/pact-findmy/pact-findmy/pact"
)

// heapAfter returns the live heap after a collection.
func heapAfter() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkHeld measures what a full repeater holds (docs/performance.md,
// "Chirp repeater"): the bytes per chirp held at MaxHeld = 65,536 and the
// cost of Hear, against a baseline measured in the same run, a plain map
// from chirp to the time it was first heard (the least any repeater must
// remember), and the time to offer a busy place's sightings once the cap
// is reached (every one dropped and counted).
func BenchmarkHeld(b *testing.B) {
	const n = DefaultMaxHeld
	chirps := make([]pact.Chirp, 2*n)
	for i := range chirps {
		binary.BigEndian.PutUint64(chirps[i][:], uint64(i)*0x9e3779b97f4a7c15)
	}
	t0 := time.Date(2026, 11, 30, 22, 0, 0, 0, time.UTC)
	b.Run("repeater", func(b *testing.B) {
		var perHeld float64
		for b.Loop() {
			before := heapAfter()
			r, err := New(Config{MaxHeld: n})
			if err != nil {
				b.Fatal(err)
			}
			for i := range n {
				r.Hear(chirps[i], pact.FrameChirp, t0)
			}
			perHeld = float64(heapAfter()-before) / n
			runtime.KeepAlive(r)
		}
		b.ReportMetric(perHeld, "B/held")
	})
	b.Run("map-baseline", func(b *testing.B) {
		var perHeld float64
		for b.Loop() {
			before := heapAfter()
			m := map[pact.Chirp]time.Time{}
			for i := range n {
				m[chirps[i]] = t0
			}
			perHeld = float64(heapAfter()-before) / n
			runtime.KeepAlive(m)
		}
		b.ReportMetric(perHeld, "B/held")
	})
	b.Run("hear-when-full", func(b *testing.B) {
		r, err := New(Config{MaxHeld: n})
		if err != nil {
			b.Fatal(err)
		}
		for i := range n {
			r.Hear(chirps[i], pact.FrameChirp, t0)
		}
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			r.Hear(chirps[n+i%n], pact.FrameChirp, t0)
		}
		if r.Stats().Held != n {
			b.Fatalf("held %d, want the cap %d", r.Stats().Held, n)
		}
	})
}
