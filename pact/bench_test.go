package pact_test

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"math"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pact-findmy/pact-findmy/pact"
	"github.com/pact-findmy/pact-findmy/pact/internal/workload"
)

// The figures these benchmarks produce, and the command, are recorded in
// docs/performance.md ("Chirps and matching").

var chirpSink pact.Chirp

// benchSeed is an arbitrary fixed seed.
var benchSeed = pact.Seed{0x5e, 0xed, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30}

// benchHour is 2026-11-02T08:00Z.
const benchHour pact.Minute = 29893440

// BenchmarkChirp computes one chirp with the key already derived.
func BenchmarkChirp(b *testing.B) {
	prim := measurePrimitive()
	k := pact.NewChirpKey(&benchSeed)
	m := benchHour
	for b.Loop() {
		chirpSink = k.Chirp(m)
		m++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "chirps/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/prim.wall, "x-primitive")
}

// BenchmarkChirpHour computes the 60 chirps of one seed-hour, deriving the
// key each time.
func BenchmarkChirpHour(b *testing.B) {
	prim := measurePrimitive()
	seed := benchSeed
	var dst [pact.MinutesPerHour]pact.Chirp
	b.SetBytes(pact.MinutesPerHour * 2 * aes.BlockSize)
	for i := 0; b.Loop(); i++ {
		seed[0] = byte(i)
		pact.NewChirpKey(&seed).Chirps(benchHour, dst[:])
	}
	chirpSink = dst[59]
	b.ReportMetric(float64(b.N)*pact.MinutesPerHour/b.Elapsed().Seconds(), "chirps/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/pact.MinutesPerHour/prim.wall, "x-primitive")
}

var keySink *pact.ChirpKey

// BenchmarkChirpKey expands one seed into its AES-256 key schedule, the
// cost the matcher pays once per tuple that could match.
func BenchmarkChirpKey(b *testing.B) {
	seed := benchSeed
	for i := 0; b.Loop(); i++ {
		seed[0] = byte(i)
		keySink = pact.NewChirpKey(&seed)
	}
}

// BenchmarkChirpPrimitive is the machine's limit for the same bytes: the
// AES-256-CTR keystream of 60 x 32 bytes from an already running stream,
// with no key schedule, no stream setup and no copying.
func BenchmarkChirpPrimitive(b *testing.B) {
	blk, err := aes.NewCipher(benchSeed[:])
	if err != nil {
		b.Fatal(err)
	}
	stream := cipher.NewCTR(blk, make([]byte, aes.BlockSize))
	buf := make([]byte, pact.MinutesPerHour*2*aes.BlockSize)
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		stream.XORKeyStream(buf, buf)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/pact.MinutesPerHour, "ns/32B")
}

// measurePrimitive times the loop of BenchmarkChirpPrimitive, best of five
// rounds, so that other benchmarks can state their cost per chirp relative
// to the machine's limit measured in the same run, moments before.
// (testing.Benchmark cannot be called from inside a benchmark.)
func measurePrimitive() primitiveCost {
	blk, err := aes.NewCipher(benchSeed[:])
	if err != nil {
		panic(err)
	}
	stream := cipher.NewCTR(blk, make([]byte, aes.BlockSize))
	buf := make([]byte, pact.MinutesPerHour*2*aes.BlockSize)
	const hours = 20_000
	best, bestCPU := math.Inf(1), math.Inf(1)
	for range 5 {
		start, startCPU := time.Now(), processCPU()
		for range hours {
			stream.XORKeyStream(buf, buf)
		}
		best = min(best, float64(time.Since(start).Nanoseconds())/hours/pact.MinutesPerHour)
		bestCPU = min(bestCPU, float64(processCPU()-startCPU)/hours/pact.MinutesPerHour)
	}
	return primitiveCost{wall: best, cpu: bestCPU}
}

type primitiveCost struct{ wall, cpu float64 }

type matchBench struct {
	w *workload.Workload
	// m matches on one goroutine, parallel on two; sealed and
	// sealedParallel the same over the log kept hidden (spec §9.3).
	m, parallel, sealed, sealedParallel *pact.Matcher
}

// referenceMatch builds the reference workload and its index once per
// process: generating 1.5 million sightings takes seconds and is not what
// BenchmarkMatch measures.
var referenceMatch = sync.OnceValues(func() (*matchBench, error) {
	w := workload.Generate(workload.Reference())
	opts := pact.MatchOptions{From: w.ExposureStart() - pact.DefaultMatchTolerance, To: w.Config.End, Workers: 1}
	m, err := pact.NewMatcher(slices.Values(w.Sightings), opts)
	if err != nil {
		return nil, err
	}
	opts.Workers = 2
	parallel, err := pact.NewMatcher(slices.Values(w.Sightings), opts)
	if err != nil {
		return nil, err
	}
	// The hidden log holds one sealed row per (chirp, minute), merged as a
	// contact log merges them.
	store := pact.NewMemStore()
	if err := store.AddSightings(context.Background(), w.Sightings); err != nil {
		return nil, err
	}
	var rows []pact.SealedSighting
	err = store.Sightings(context.Background(), opts.From, opts.To, func(s pact.Sighting) error {
		ss, err := pact.SealSighting(&s, nil)
		rows = append(rows, ss)
		return err
	})
	if err != nil {
		return nil, err
	}
	opts.Workers = 1
	sealed, err := pact.NewSealedMatcher(slices.Values(rows), opts)
	if err != nil {
		return nil, err
	}
	opts.Workers = 2
	sealedParallel, err := pact.NewSealedMatcher(slices.Values(rows), opts)
	// The matchers hold their own compact copy. Dropping the 1.5 million
	// Sighting values, with their pointers, keeps the garbage collector
	// from rescanning them during the match, which a device that loads
	// its log from SQLite would not pay either.
	w.Sightings = nil
	return &matchBench{w: w, m: m, parallel: parallel, sealed: sealed, sealedParallel: sealedParallel}, err
})

// BenchmarkMatch streams the reference exposure set (one million
// seed-hours) through the index of the reference contact log.
func BenchmarkMatch(b *testing.B) {
	ref, err := referenceMatch()
	if err != nil {
		b.Fatal(err)
	}
	for _, mode := range []string{"smart", "naive", "smart-2workers", "sealed", "sealed-2workers"} {
		b.Run(mode, func(b *testing.B) {
			run := ref.m.Match
			switch mode {
			case "naive":
				run = ref.m.MatchNaive
			case "smart-2workers":
				run = ref.parallel.Match
			case "sealed":
				run = ref.sealed.Match
			case "sealed-2workers":
				run = ref.sealedParallel.Match
			}
			prim := measurePrimitive()
			runtime.GC()
			var base runtime.MemStats
			runtime.ReadMemStats(&base)
			peak := sampleHeapPeak()
			var rep pact.MatchReport
			cpu0 := processCPU()
			for b.Loop() {
				rep, err = run(pact.TupleSeq(ref.w.Tuples), nil)
				if err != nil {
					b.Fatal(err)
				}
			}
			cpuPerOp := float64(processCPU()-cpu0) / float64(b.N)
			peakInuse := peak()
			if rep.Stats.Contacts != int64(len(ref.w.Planted)) {
				b.Fatalf("%s found %d contacts, planted %d", mode, rep.Stats.Contacts, len(ref.w.Planted))
			}
			nsPerOp := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			st := rep.Stats
			b.ReportMetric(float64(st.Tuples)/(nsPerOp/1e9), "seed-hours/s")
			b.ReportMetric(float64(st.ChirpsComputed), "chirps/op")
			b.ReportMetric(float64(st.KeysDerived), "keys/op")
			b.ReportMetric(float64(st.CandidateChirps), "candidates/op")
			b.ReportMetric(nsPerOp/float64(st.ChirpsComputed), "ns/chirp")
			b.ReportMetric(nsPerOp/float64(st.ChirpsComputed)/prim.wall, "x-primitive")
			b.ReportMetric(cpuPerOp/float64(st.Tuples), "cpu-ns/seed-hour")
			b.ReportMetric(cpuPerOp/float64(st.ChirpsComputed)/prim.cpu, "cpu-x-primitive")
			b.ReportMetric(float64(ref.m.IndexBytes())/(1<<20), "index-MiB")
			b.ReportMetric(float64(peakInuse-min(peakInuse, base.HeapInuse))/(1<<20), "peak-heap-growth-MiB")
		})
	}
}

// sampleHeapPeak samples HeapInuse until the returned function is called,
// which returns the highest value seen.
func sampleHeapPeak() func() uint64 {
	done := make(chan struct{})
	result := make(chan uint64)
	go func() {
		var peak uint64
		var ms runtime.MemStats
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			select {
			case <-done:
				result <- peak
				return
			case <-tick.C:
			}
		}
	}()
	return func() uint64 {
		close(done)
		return <-result
	}
}

// BenchmarkMatchIndex builds the index of the reference contact log over
// the exposure period.
func BenchmarkMatchIndex(b *testing.B) {
	w := referenceLog()
	opts := pact.MatchOptions{From: w.ExposureStart() - pact.DefaultMatchTolerance, To: w.Config.End}
	var m *pact.Matcher
	for b.Loop() {
		var err error
		if m, err = pact.NewMatcher(slices.Values(w.Sightings), opts); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(m.Sightings()), "sightings")
	b.ReportMetric(float64(len(w.Sightings)), "log-sightings")
}

// referenceLog is the reference workload with its contact log kept.
var referenceLog = sync.OnceValue(func() *workload.Workload { return workload.Generate(workload.Reference()) })

// BenchmarkMatchIndirect measures what the longer window of repeated
// sightings (docs/repeater.md §9.1.3) costs the matcher on the small
// workload: the log as generated (direct sightings only, the baseline of
// the same run), a tenth of its native sightings marked as heard from a
// repeater, and all of them. It reports the chirps computed per match.
func BenchmarkMatchIndirect(b *testing.B) {
	w := workload.Generate(workload.Small())
	for _, tc := range []struct {
		name  string
		every int // mark every n-th native sighting as repeated; 0: none
	}{{"direct", 0}, {"indirect=10%", 10}, {"indirect=100%", 1}} {
		b.Run(tc.name, func(b *testing.B) {
			log := slices.Clone(w.Sightings)
			n := 0
			for i := range log {
				if log[i].Source != pact.SourcePACT {
					continue
				}
				if tc.every > 0 && n%tc.every == 0 {
					log[i].Source = pact.SourceRepeater
				}
				n++
			}
			m, err := pact.NewMatcher(slices.Values(log), pact.MatchOptions{Workers: 1})
			if err != nil {
				b.Fatal(err)
			}
			var st pact.MatchStats
			for b.Loop() {
				rep, err := m.Match(pact.TupleSeq(w.Tuples), nil)
				if err != nil {
					b.Fatal(err)
				}
				st = rep.Stats
			}
			b.ReportMetric(float64(st.ChirpsComputed), "chirps/op")
			b.ReportMetric(float64(st.KeysDerived), "keys/op")
		})
	}
}
