package workload

import (
	"crypto/sha256"
	"encoding/binary"
	"testing"

	"github.com/pact-findmy/pact-findmy/pact"
)

func digest(w *Workload) [32]byte {
	h := sha256.New()
	var b [8]byte
	for _, s := range w.Sightings {
		h.Write(s.Chirp[:])
		binary.BigEndian.PutUint32(b[:4], uint32(s.Minute))
		b[4] = byte(s.RSSI)
		h.Write(b[:5])
		h.Write([]byte(s.Source))
		if s.Location != nil {
			binary.BigEndian.PutUint64(b[:], uint64(s.Location.Lat*1e6))
			h.Write(b[:])
		}
	}
	for _, t := range w.Tuples {
		out, _ := t.AppendBinary(nil)
		h.Write(out)
	}
	return [32]byte(h.Sum(nil))
}

func TestGenerateIsDeterministic(t *testing.T) {
	a, b := Generate(Small()), Generate(Small())
	if digest(a) != digest(b) {
		t.Fatal("two workloads from the same config differ")
	}
	other := Small()
	other.Seed++
	if digest(Generate(other)) == digest(a) {
		t.Fatal("a different PRNG seed produced the same workload")
	}
}

func TestGenerateShape(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		// Bounds on the share of exposure-period minutes with a sighting:
		// the daily rhythm keeps most of the day quiet.
		minBusy, maxBusy float64
	}{
		{"small", Small(), 0.05, 0.30},
		{"small other seed", func() Config { c := Small(); c.Seed = 99; return c }(), 0.05, 0.30},
		{"small crowded", func() Config { c := Small(); c.Crowd = 0.5; return c }(), 0.05, 0.30},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := Generate(tc.cfg)
			first := tc.cfg.End - pact.Minute(tc.cfg.Days*pact.MinutesPerDay)
			type key struct {
				c pact.Chirp
				m pact.Minute
			}
			seen := map[key]bool{}
			busy := map[pact.Minute]bool{}
			for i, s := range w.Sightings {
				if i > 0 && s.Minute < w.Sightings[i-1].Minute {
					t.Fatalf("sighting %d at %v is before its predecessor", i, s.Minute)
				}
				if s.Minute < first || s.Minute >= tc.cfg.End {
					t.Fatalf("sighting %d at %v is outside the log", i, s.Minute)
				}
				if err := s.Validate(); err != nil {
					t.Fatalf("sighting %d: %v", i, err)
				}
				k := key{s.Chirp, s.Minute}
				if seen[k] {
					t.Fatalf("sighting %d repeats chirp %v at %v", i, s.Chirp, s.Minute)
				}
				seen[k] = true
				if s.Minute >= w.ExposureStart() {
					busy[s.Minute] = true
				}
			}
			share := float64(len(busy)) / float64(tc.cfg.ExposureDays*pact.MinutesPerDay)
			if share < tc.minBusy || share > tc.maxBusy {
				t.Errorf("%.3f of exposure minutes have sightings, want %.2f..%.2f", share, tc.minBusy, tc.maxBusy)
			}
			limits := pact.Limits{Now: tc.cfg.End, Horizon: w.ExposureStart()}
			for i, tu := range w.Tuples {
				if err := tu.Validate(limits); err != nil {
					t.Fatalf("tuple %d: %v", i, err)
				}
			}
			if len(w.Tuples) != tc.cfg.SeedHours {
				t.Errorf("%d tuples, want %d", len(w.Tuples), tc.cfg.SeedHours)
			}
			if len(w.Planted) < tc.cfg.PlantedEncounters || len(w.Replays) == 0 {
				t.Errorf("%d planted contacts from %d encounters and %d replays", len(w.Planted), tc.cfg.PlantedEncounters, len(w.Replays))
			}
			for _, p := range w.Planted {
				tu := w.Tuples[p.Tuple]
				d := int(p.Heard) - int(p.ChirpMinute)
				if p.ChirpMinute < tu.Start || p.ChirpMinute > tu.End || d < -1 || d > 1 {
					t.Fatalf("planted %+v does not fit tuple %v..%v within a minute", p, tu.Start, tu.End)
				}
				if !seen[key{pact.ChirpAt(&tu.Seed, p.ChirpMinute), p.Heard}] {
					t.Fatalf("planted %+v is not in the contact log", p)
				}
			}
			for _, r := range w.Replays {
				if d := int(r.Heard) - int(r.ChirpMinute); d > -2 && d < 2 {
					t.Fatalf("replay %+v is within a minute of its own minute", r)
				}
			}
		})
	}
}
