// Package workload generates the deterministic reference workload that the
// matcher is tested and measured on (docs/matching.md, "Reference
// workload"): a contact log with the daily rhythm of a commuting office
// worker and a large exposure set with planted true contacts and replays.
//
// The same Config always yields the same workload, byte for byte.
package workload

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/pact-findmy/pact-findmy/pact"
)

// Config sizes a workload.
type Config struct {
	// End is the first minute after the workload: the "now" of the
	// device that matches. It should be a UTC day boundary.
	End pact.Minute
	// Days is the length of the contact log.
	Days int
	// Crowd scales how many devices are in radio range during each
	// cluster of the day; 1 is the reference.
	Crowd float64
	// ExposureDays is how far back the exposure set reaches.
	ExposureDays int
	// SeedHours is the number of exposure tuples.
	SeedHours int
	// PlantedEncounters is how many times an exposed device is placed
	// near the device, each for a few consecutive minutes.
	PlantedEncounters int
	// Replays is how many planted chirps are heard once more at a wrong
	// time, which must never match.
	Replays int
	// Seed seeds the PRNG.
	Seed uint64
}

// ReferenceEnd is the "now" of the reference workload: 2026-11-02T00:00Z,
// a Monday.
const ReferenceEnd pact.Minute = 29893440 - 8*60

// Reference is the workload of the BenchmarkMatch figures in
// docs/performance.md: 90 days, about 1.5 million sightings, one million
// seed-hours over 21 days.
func Reference() Config {
	return Config{
		End:               ReferenceEnd,
		Days:              90,
		Crowd:             1,
		ExposureDays:      21,
		SeedHours:         1_000_000,
		PlantedEncounters: 60,
		Replays:           100,
		Seed:              20261102,
	}
}

// Small is a scaled-down workload with the same shape, for unit tests.
func Small() Config {
	return Config{
		End:               ReferenceEnd,
		Days:              10,
		Crowd:             0.1,
		ExposureDays:      4,
		SeedHours:         3000,
		PlantedEncounters: 12,
		Replays:           20,
		Seed:              7,
	}
}

// Contact is a planted truth: the chirp of tuple Tuple for minute
// ChirpMinute, heard at minute Heard.
type Contact struct {
	Tuple       int64
	ChirpMinute pact.Minute
	Heard       pact.Minute
}

// Workload is a generated contact log and exposure set.
type Workload struct {
	Config Config
	// Sightings is the contact log in minute order, one entry per
	// (chirp, minute).
	Sightings []pact.Sighting
	// Tuples is the exposure set in the order it is streamed.
	Tuples []pact.Tuple
	// Planted lists every contact the matcher must report, ordered by
	// tuple, chirp minute and minute heard, which is the order Match
	// reports them in.
	Planted []Contact
	// Replays lists planted chirps heard at least two minutes away from
	// their own minute; none may be reported.
	Replays []Contact
}

// ExposureStart is the first minute of the exposure period.
func (w *Workload) ExposureStart() pact.Minute {
	return w.Config.End - pact.Minute(w.Config.ExposureDays*pact.MinutesPerDay)
}

// episode is one cluster of the day: a crowd of devices in radio range.
type episode struct {
	start, length int     // minutes from the start of the day
	crowd         float64 // devices in range at once
	stay          float64 // mean minutes a device stays in range
	rssi          float64 // mean RSSI of the crowd in dBm
	place         *pact.Location
}

// Places are coarse locations (spec §5.2) of the clusters.
var (
	home    = &pact.Location{Lat: 52.52, Lon: 13.40}
	transit = &pact.Location{Lat: 52.51, Lon: 13.39}
	office  = &pact.Location{Lat: 52.50, Lon: 13.37}
	shop    = &pact.Location{Lat: 52.53, Lon: 13.41}
	park    = &pact.Location{Lat: 52.51, Lon: 13.36}
)

type generator struct {
	cfg  Config
	rng  *rand.Rand
	out  []pact.Sighting
	base pact.Minute
}

// Generate builds the workload for cfg.
func Generate(cfg Config) *Workload {
	g := &generator{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, 0x70616374))}
	g.base = cfg.End - pact.Minute(cfg.Days*pact.MinutesPerDay)
	for d := 0; d < cfg.Days; d++ {
		dayStart := g.base + pact.Minute(d*pact.MinutesPerDay)
		for _, e := range g.dayPlan(dayStart) {
			g.crowd(dayStart, e)
		}
	}
	w := &Workload{Config: cfg}
	w.Tuples = g.tuples(w.ExposureStart())
	g.plant(w)
	slices.SortStableFunc(g.out, func(a, b pact.Sighting) int { return cmp.Compare(a.Minute, b.Minute) })
	w.Sightings = g.out
	return w
}

// dayPlan lays out the clusters of one day: commutes, meetings, lunch and
// shopping on weekdays, shopping and a park or cafe at weekends, and a few
// passers-by; evenings and nights stay quiet.
func (g *generator) dayPlan(dayStart pact.Minute) []episode {
	r := g.rng
	k := g.cfg.Crowd
	at := func(hour, minute float64) int { return int(hour*60 + minute) }
	weekday := (dayStart.Day() + 4) % 7 // 1970-01-01 was a Thursday; 0 is Sunday
	var plan []episode
	if weekday >= 1 && weekday <= 5 {
		plan = append(plan,
			episode{start: at(7, 15+r.NormFloat64()*10), length: 35 + r.IntN(11), crowd: 130 * k, stay: 12, rssi: -76, place: transit},
			episode{start: at(9, 30+r.Float64()*60), length: 45 + r.IntN(16), crowd: 18 * k, stay: 60, rssi: -66, place: office},
			episode{start: at(12, r.Float64()*30), length: 30 + r.IntN(21), crowd: 170 * k, stay: 20, rssi: -79, place: office},
			episode{start: at(17, 15+r.NormFloat64()*15), length: 35 + r.IntN(11), crowd: 130 * k, stay: 12, rssi: -76, place: transit},
		)
		if r.Float64() < 0.7 {
			plan = append(plan, episode{start: at(14, r.Float64()*90), length: 30 + r.IntN(31), crowd: 14 * k, stay: 60, rssi: -66, place: office})
		}
		if r.Float64() < 0.5 {
			plan = append(plan, episode{start: at(18, 15+r.Float64()*60), length: 15 + r.IntN(16), crowd: 110 * k, stay: 8, rssi: -80, place: shop})
		}
	} else {
		plan = append(plan, episode{start: at(10, 30+r.Float64()*90), length: 45 + r.IntN(31), crowd: 150 * k, stay: 15, rssi: -79, place: shop})
		if r.Float64() < 0.7 {
			plan = append(plan, episode{start: at(14, r.Float64()*120), length: 60 + r.IntN(61), crowd: 60 * k, stay: 30, rssi: -78, place: park})
		}
	}
	// Passers-by and neighbours through a wall: single devices for a
	// minute or three, between 07:00 and 23:00.
	for range 2 + r.IntN(5) {
		plan = append(plan, episode{start: at(7, r.Float64()*16*60), length: 1 + r.IntN(3), crowd: 1, stay: 3, rssi: -88, place: home})
	}
	return plan
}

// crowd simulates devices arriving and leaving so that about e.crowd are
// in range at once, each heard in most of the minutes it is present.
func (g *generator) crowd(dayStart pact.Minute, e episode) {
	r := g.rng
	end := e.start + e.length
	type device struct {
		leave  int
		rssi   float64
		findMy bool
		key    pact.Chirp
	}
	arrive := func(now int) device {
		d := device{leave: now + 1 + int(r.ExpFloat64()*e.stay), rssi: e.rssi + r.NormFloat64()*7, findMy: r.Float64() < 0.15}
		g.fill(&d.key)
		return d
	}
	present := make([]device, 0, int(e.crowd)+1)
	for range int(math.Round(e.crowd)) {
		present = append(present, arrive(e.start))
	}
	for now := e.start; now < end; now++ {
		for i := 0; i < len(present); {
			if present[i].leave <= now {
				present[i] = present[len(present)-1]
				present = present[:len(present)-1]
				continue
			}
			i++
		}
		// Poisson arrivals at rate crowd/stay keep the crowd steady.
		for lambda := e.crowd / e.stay; r.Float64() < lambda; lambda-- {
			present = append(present, arrive(now))
		}
		m := dayStart + pact.Minute(now)
		if m >= g.cfg.End {
			return
		}
		for i := range present {
			d := &present[i]
			if r.Float64() >= 0.92 {
				continue
			}
			s := pact.Sighting{Minute: m, RSSI: g.rssi(d.rssi), TxPower: pact.TxPowerUnknown, Source: pact.SourcePACT}
			if d.findMy {
				// A Find My key stays the same while the device is in
				// range, so it recurs over many minutes.
				s.Chirp, s.Source = d.key, pact.SourceFindMy
			} else {
				g.fill(&s.Chirp)
			}
			if r.Float64() < 0.7 {
				s.Location = e.place
			}
			g.out = append(g.out, s)
		}
	}
}

func (g *generator) rssi(mean float64) int8 {
	if g.rng.Float64() < 0.01 {
		return pact.RSSIUnknown
	}
	return int8(max(-100, min(-35, math.Round(mean+g.rng.NormFloat64()*4))))
}

func (g *generator) fill(c *pact.Chirp) {
	var b [32]byte
	for i := 0; i < 32; i += 8 {
		v := g.rng.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	copy(c[:], b[:])
}

// tuples draws the exposure set: one seed per device-hour, spread
// uniformly over the exposure period; one in ten covers only part of its
// hour, as when a device starts or stops chirping.
func (g *generator) tuples(from pact.Minute) []pact.Tuple {
	r := g.rng
	hours := g.cfg.ExposureDays * 24
	ts := make([]pact.Tuple, g.cfg.SeedHours)
	for i := range ts {
		var seed pact.Seed
		for j := 0; j < pact.SeedSize; j += 8 {
			v := r.Uint64()
			for k := range 8 {
				seed[j+k] = byte(v >> (8 * k))
			}
		}
		h := from + pact.Minute(r.IntN(hours)*pact.MinutesPerHour)
		t := pact.Tuple{Seed: seed, Start: h, End: h + pact.MinutesPerHour - 1}
		if r.IntN(10) == 0 {
			t.Start += pact.Minute(r.IntN(30))
			t.End -= pact.Minute(r.IntN(30))
		}
		ts[i] = t
	}
	return ts
}

// plant places exposed devices in clusters: it picks a sighting in the
// exposure period, moves a distinct tuple to that sighting's hour, and adds
// the tuple's real chirps for a few consecutive minutes, mostly heard in
// their own minute and sometimes one minute off. Then it replays some of
// those chirps at wrong times.
func (g *generator) plant(w *Workload) {
	r := g.rng
	from := w.ExposureStart()
	var candidates []int
	for i := range g.out {
		if g.out[i].Minute >= from {
			candidates = append(candidates, i)
		}
	}
	if len(candidates) == 0 || len(w.Tuples) == 0 {
		return
	}
	used := map[int]bool{}
	for range g.cfg.PlantedEncounters {
		anchor := g.out[candidates[r.IntN(len(candidates))]].Minute
		ti := r.IntN(len(w.Tuples))
		for used[ti] {
			ti = r.IntN(len(w.Tuples))
		}
		used[ti] = true
		hour := anchor.HourStart()
		t := &w.Tuples[ti]
		t.Start, t.End = hour, hour+pact.MinutesPerHour-1
		key := pact.NewChirpKey(&t.Seed)
		length := 2 + r.IntN(14)
		startOff := int(anchor - hour)
		rssi := -50 - r.Float64()*35
		for m := hour + pact.Minute(startOff); m <= t.End && m < hour+pact.Minute(startOff+length); m++ {
			if r.Float64() >= 0.92 {
				continue
			}
			heard := m
			switch x := r.Float64(); {
			case x < 0.05 && heard > hour:
				heard--
			case x < 0.15:
				heard++
			}
			if heard >= g.cfg.End {
				continue
			}
			c := key.Chirp(m)
			g.out = append(g.out, pact.Sighting{Chirp: c, Minute: heard, RSSI: g.rssi(rssi), TxPower: pact.TxPowerUnknown, Source: pact.SourcePACT, Location: office})
			w.Planted = append(w.Planted, Contact{Tuple: int64(ti), ChirpMinute: m, Heard: heard})
		}
	}
	slices.SortFunc(w.Planted, func(a, b Contact) int {
		return cmp.Or(cmp.Compare(a.Tuple, b.Tuple), cmp.Compare(a.ChirpMinute, b.ChirpMinute), cmp.Compare(a.Heard, b.Heard))
	})
	// Replays: a planted chirp captured and re-broadcast later (or, with
	// a skewed clock, earlier), at least two minutes away.
	offsets := []int{2, -2, 3, 5, 30, 59, 60, 61, 24 * 60, -24 * 60, 7 * 24 * 60}
	seen := map[Contact]bool{}
	for range g.cfg.Replays {
		if len(w.Planted) == 0 {
			break
		}
		p := w.Planted[r.IntN(len(w.Planted))]
		heard := int64(p.ChirpMinute) + int64(offsets[r.IntN(len(offsets))])
		replay := Contact{Tuple: p.Tuple, ChirpMinute: p.ChirpMinute, Heard: pact.Minute(heard)}
		if heard < int64(g.base) || heard >= int64(g.cfg.End) || seen[replay] {
			continue
		}
		seen[replay] = true
		seed := w.Tuples[p.Tuple].Seed
		c := pact.ChirpAt(&seed, p.ChirpMinute)
		// A replay comes as a direct frame: one marked repeated may be
		// heard up to pact.MaxRepeatDelay minutes late (spec §9.1.3).
		g.out = append(g.out, pact.Sighting{Chirp: c, Minute: pact.Minute(heard), RSSI: -45, TxPower: pact.TxPowerUnknown, Source: pact.SourcePACT})
		w.Replays = append(w.Replays, replay)
	}
}
