package exposuresync

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/pact-findmy/pact-findmy/internal/authority/model"
	"github.com/pact-findmy/pact-findmy/internal/devicedb"
	"github.com/pact-findmy/pact-findmy/internal/server"
	"github.com/pact-findmy/pact-findmy/pact"
)

// The day of batches of BenchmarkSyncDay (docs/performance.md): a region
// where about a thousand users a day share 14 days of hourly seeds.
const (
	benchPeriods          = 144 // 10-minute batches: one day
	benchUploadsPerPeriod = 7   // 1,008 uploads a day
	benchUploadHours      = 14 * 24
	benchLogDays          = 90    // the device's retention
	benchSightingsPerDay  = 16700 // 1.5 M sightings in 90 days, as pact's reference workload
	benchPlantedSeeds     = 20    // uploaded seeds the device heard, 5 minutes each
)

// benchDayStart is the first minute of the day of batches.
var benchDayStart = pact.MinuteOf(testNow) - pact.MinuteOf(testNow)%pact.MinutesPerDay

type benchWorld struct {
	es        *exposureServer
	db        *devicedb.DB
	tuples    []pact.Tuple // every uploaded tuple, for the baseline
	sightings int
	planted   int
}

var (
	benchOnce sync.Once
	benchW    *benchWorld
)

// benchSetup builds, once per process, the exposure server with a day of
// batches and the device database with a 90-day contact log.
func benchSetup(b *testing.B) *benchWorld {
	benchOnce.Do(func() {
		rng := rand.New(rand.NewPCG(20261130, 1))
		clock := &testClock{now: benchDayStart.Time()}
		w := &benchWorld{es: newExposureServer(b, 9, clock, nil), db: openDevice(b)}
		ctx := context.Background()

		// Contact log: 16,700 sightings a day between 07:00 and 23:00,
		// of chirps no uploaded seed produces.
		logStart := benchDayStart + pact.MinutesPerDay - benchLogDays*pact.MinutesPerDay
		batch := make([]pact.Sighting, 0, 10000)
		for d := range benchLogDays {
			day := logStart + pact.Minute(d*pact.MinutesPerDay)
			for i := range benchSightingsPerDay {
				s := pact.Sighting{Minute: day + 7*60 + pact.Minute(i*16*60/benchSightingsPerDay), RSSI: int8(-40 - rng.IntN(60)), Source: pact.SourcePACT}
				for j := range s.Chirp {
					s.Chirp[j] = byte(rng.Uint32())
				}
				batch = append(batch, s)
				if len(batch) == cap(batch) {
					if err := w.db.AddSightings(ctx, batch); err != nil {
						b.Fatal(err)
					}
					batch = batch[:0]
				}
			}
		}
		w.sightings = benchLogDays * benchSightingsPerDay

		// A day of uploads, each 14 days of hourly seeds, cut every 10
		// minutes; some seeds were heard by the device.
		numbers := make([]model.PermissionNumber, benchPeriods*benchUploadsPerPeriod)
		hashes := make([][]byte, len(numbers))
		for i := range numbers {
			n, err := model.NewPermissionNumber(nil)
			if err != nil {
				b.Fatal(err)
			}
			numbers[i], hashes[i] = n, w.es.hasher.Hash(n)
		}
		if _, err := w.es.store.IssuePermissions(ctx, "Bench Lab", hashes, clock.Now().Add(-time.Hour), clock.Now().Add(48*time.Hour)); err != nil {
			b.Fatal(err)
		}
		plantEvery := len(numbers) / benchPlantedSeeds
		var heard []pact.Sighting
		for p := range benchPeriods {
			for u := range benchUploadsPerPeriod {
				k := p*benchUploadsPerPeriod + u
				lastHour := pact.MinuteOf(clock.Now()).HourStart() - pact.MinutesPerHour
				ts := make([]pact.Tuple, benchUploadHours)
				for h := range ts {
					var s pact.Seed
					for j := range s {
						s[j] = byte(rng.Uint32())
					}
					ts[h] = hourTuple(s, lastHour-pact.Minute(h*pact.MinutesPerHour))
				}
				if k%plantEvery == 0 {
					t := ts[k%benchUploadHours]
					ck := pact.NewChirpKey(&t.Seed)
					for m := t.Start + 20; m < t.Start+25; m++ {
						heard = append(heard, pact.Sighting{Chirp: ck.Chirp(m), Minute: m, RSSI: -58, Source: pact.SourcePACT})
					}
				}
				w.tuples = append(w.tuples, ts...)
				benchUpload(b, w.es, numbers[k], ts)
			}
			if n := w.es.cut(b); n != 1 {
				b.Fatalf("period %d: cut %d batches, want 1", p, n)
			}
		}
		if err := w.db.AddSightings(ctx, heard); err != nil {
			b.Fatal(err)
		}
		w.planted = len(heard)
		w.sightings += len(heard)
		benchW = w
	})
	if benchW == nil {
		b.Fatal("benchmark setup failed")
	}
	return benchW
}

func benchUpload(b *testing.B, es *exposureServer, n model.PermissionNumber, ts []pact.Tuple) {
	body, _ := json.Marshal(map[string]any{"permission_number": string(n), "region": "CH", "tuples": ts})
	resp, err := http.Post(es.http.URL+server.PathUploads, "application/json", bytes.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		msg, _ := io.ReadAll(resp.Body)
		b.Fatalf("upload: %s %s", resp.Status, msg)
	}
}

// resetSync forgets what the device applied, so that every iteration
// syncs the whole day again.
func resetSync(b *testing.B, db *devicedb.DB) {
	for _, q := range []string{`DELETE FROM sync_cursors`, `DELETE FROM sync_batches`, `DELETE FROM sync_servers`, `DELETE FROM exposure_contacts`} {
		if _, err := db.SQL().Exec(q); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSyncDay measures a sync of one day of batches (144 batches of
// 10-minute periods, 1,008 uploads of 14 days of hourly seeds: 338,688
// seed-hours) from a real exposure server on loopback into a device with a
// 90-day contact log of 1.5 M sightings: listing, download, signature
// check, matching and storing, against the matcher alone on the same
// tuples held in memory (the baseline).
func BenchmarkSyncDay(b *testing.B) {
	w := benchSetup(b)
	ctx := context.Background()
	now := benchDayStart + pact.MinutesPerDay
	b.Run("sync", func(b *testing.B) {
		var cpu int64
		for b.Loop() {
			b.StopTimer()
			resetSync(b, w.db)
			s := newSyncer(b, w.db, []Server{w.es.server("lab", "CH")}, Options{Clock: &testClock{now: now.Time()}})
			b.StartTimer()
			cpu0 := processCPU()
			rep, err := s.Sync(ctx)
			cpu += processCPU() - cpu0
			if err != nil || len(rep.Applied) != benchPeriods {
				b.Fatalf("sync applied %d batches, err %v", len(rep.Applied), err)
			}
			matches := 0
			for _, a := range rep.Applied {
				matches += a.Matches
			}
			if matches != w.planted {
				b.Fatalf("sync found %d matches, want the %d planted", matches, w.planted)
			}
		}
		b.ReportMetric(float64(len(w.tuples))*float64(b.N)/b.Elapsed().Seconds(), "seed-hours/s")
		b.ReportMetric(float64(cpu)/1e6/float64(b.N), "cpu-ms/op")
		b.ReportMetric(float64(w.sightings), "sightings")
	})
	b.Run("match-only", func(b *testing.B) {
		cpu0 := processCPU()
		for b.Loop() {
			m, err := pact.LoadMatcher(ctx, w.db, pact.MatchOptions{From: now - pact.DefaultRetention, To: now + pact.MinutesPerHour})
			if err != nil {
				b.Fatal(err)
			}
			rep, err := m.Match(pact.TupleSeq(w.tuples), nil)
			if err != nil || rep.Stats.Contacts != int64(w.planted) {
				b.Fatalf("match found %d contacts, err %v; want %d", rep.Stats.Contacts, err, w.planted)
			}
		}
		b.ReportMetric(float64(len(w.tuples))*float64(b.N)/b.Elapsed().Seconds(), "seed-hours/s")
		b.ReportMetric(float64(processCPU()-cpu0)/1e6/float64(b.N), "cpu-ms/op")
	})
}
