package pact

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// RSSI bands of the exposure score (spec §8.4). A reading at or above a
// band's floor gets its weight. The floors follow the usual BLE path loss
// for a phone-class transmitter: about -60 dBm within 1-2 m, -70 dBm within
// about 3 m, -80 dBm within about 8 m, weaker than that across a room or
// through a wall.
const (
	RSSINear   int8 = -60
	RSSIMedium int8 = -70
	RSSIFar    int8 = -80
)

// Weights of the exposure score per band (spec §8.4). An unknown RSSI counts
// as medium: the chirp was heard, so the device was in radio range, but the
// distance is not known.
const (
	WeightNear    = 1.0
	WeightMedium  = 0.5
	WeightFar     = 0.25
	WeightDistant = 0.1
	WeightUnknown = WeightMedium
)

// ExposureWeight returns the score that one minute in the company of one
// exposed device contributes, given the strongest RSSI heard from it in that
// minute (spec §8.4).
func ExposureWeight(rssi int8) float64 {
	switch {
	case rssi == RSSIUnknown:
		return WeightUnknown
	case rssi >= RSSINear:
		return WeightNear
	case rssi >= RSSIMedium:
		return WeightMedium
	case rssi >= RSSIFar:
		return WeightFar
	}
	return WeightDistant
}

// DaySummary condenses one UTC day of contacts (spec §8.4). The day of a
// contact is the day of the minute it was heard.
type DaySummary struct {
	// Day counts days since 1970-01-01.
	Day uint32
	// Minutes is the duration of exposure: distinct minutes in which at
	// least one exposed chirp was heard.
	Minutes int
	// Contacts is the number of distinct exposure seeds heard, that is of
	// distinct exposed device-hours.
	Contacts int
	// Sightings is the number of distinct contact log entries matched.
	Sightings int
	// MaxRSSI is the strongest reading among the matched sightings, or
	// RSSIUnknown when none had a reading.
	MaxRSSI int8
	// MeanRSSI is the arithmetic mean in dBm of the readings of the
	// matched sightings, ignoring RSSIUnknown; zero when RSSISamples is 0.
	MeanRSSI float64
	// RSSISamples is how many readings MeanRSSI averages.
	RSSISamples int
	// Score is the exposure score: for every distinct (seed, minute heard)
	// the ExposureWeight of the strongest reading, summed. It reads as
	// "minutes at close range" and grows with time, proximity and the
	// number of exposed devices present at once.
	Score float64
}

// Date returns the start of the day in UTC.
func (d DaySummary) Date() time.Time { return Minute(d.Day * MinutesPerDay).Time() }

// String renders the summary on one line for logs and reports.
func (d DaySummary) String() string {
	rssi := "RSSI unknown"
	if d.RSSISamples > 0 {
		rssi = fmt.Sprintf("RSSI max %d dBm, mean %.1f dBm", d.MaxRSSI, d.MeanRSSI)
	}
	return fmt.Sprintf("%s: %d min exposed, %d contacts, %d sightings, %s, score %.2f",
		d.Date().Format(time.DateOnly), d.Minutes, d.Contacts, d.Sightings, rssi, d.Score)
}

type seedMinute struct {
	seed  Seed
	heard Minute
}

type dayAccumulator struct {
	matched []uint64 // bit per index entry already counted
	byDay   map[uint32]*dayTotals
}

type dayTotals struct {
	minutes   map[Minute]struct{}
	seeds     map[Seed]struct{}
	pairs     map[seedMinute]int8
	sightings int
	maxRSSI   int8
	sumRSSI   int64
	samples   int
}

func newDayAccumulator(entries int) *dayAccumulator {
	return &dayAccumulator{matched: make([]uint64, (entries+63)/64), byDay: map[uint32]*dayTotals{}}
}

// add counts a contact whose sighting is index entry. A sighting matched
// twice (the same tuple streamed twice) counts once.
func (a *dayAccumulator) add(c *Contact, entry int) {
	if a.matched[entry>>6]&(1<<(entry&63)) != 0 {
		return
	}
	a.matched[entry>>6] |= 1 << (entry & 63)
	day := c.Heard.Day()
	d := a.byDay[day]
	if d == nil {
		d = &dayTotals{
			minutes: map[Minute]struct{}{},
			seeds:   map[Seed]struct{}{},
			pairs:   map[seedMinute]int8{},
			maxRSSI: RSSIUnknown,
		}
		a.byDay[day] = d
	}
	d.minutes[c.Heard] = struct{}{}
	d.seeds[c.Seed] = struct{}{}
	key := seedMinute{c.Seed, c.Heard}
	if r, ok := d.pairs[key]; ok {
		d.pairs[key] = MergeRSSI(r, c.RSSI)
	} else {
		d.pairs[key] = c.RSSI
	}
	d.sightings++
	d.maxRSSI = MergeRSSI(d.maxRSSI, c.RSSI)
	if c.RSSI != RSSIUnknown {
		d.sumRSSI += int64(c.RSSI)
		d.samples++
	}
}

func (a *dayAccumulator) days() []DaySummary {
	out := make([]DaySummary, 0, len(a.byDay))
	for day, d := range a.byDay {
		s := DaySummary{
			Day:         day,
			Minutes:     len(d.minutes),
			Contacts:    len(d.seeds),
			Sightings:   d.sightings,
			MaxRSSI:     d.maxRSSI,
			RSSISamples: d.samples,
		}
		if d.samples > 0 {
			s.MeanRSSI = float64(d.sumRSSI) / float64(d.samples)
		}
		// Sum in a fixed order so that the score is bit-for-bit
		// reproducible.
		weights := make([]float64, 0, len(d.pairs))
		for _, r := range d.pairs {
			weights = append(weights, ExposureWeight(r))
		}
		slices.Sort(weights)
		for _, w := range weights {
			s.Score += w
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(x, y DaySummary) int { return cmp.Compare(x.Day, y.Day) })
	return out
}
