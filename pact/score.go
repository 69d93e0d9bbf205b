package pact

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"
)

// The exposure score of docs/matching.md §8.4. A sighting's distance is
// judged by its attenuation, TX power - (RSSI + receiver correction), as
// GAEN does, rather than by the raw RSSI, which depends on how loud the
// sender is and how deaf the receiver is.

// ReferenceTxPower is the radiated power, in dBm, assumed for a sighting
// whose frame carried none (TxPowerUnknown): version-1 frames, Find My
// keys, and contact log rows stored before TX power was recorded. It is a
// phone-class advertiser, about 0 dBm at the radio less some 5 dB of
// antenna and body loss, and it makes the attenuation bands below equal the
// RSSI bands that earlier versions of §8.4 used (RSSINear and the others).
const ReferenceTxPower int8 = -5

// The TX power a frame may claim counts only inside this range (spec §8.6).
// The field is not authenticated, so a forged or relayed frame claiming a
// tiny TX power would otherwise look near whatever its RSSI; clamped, a
// claim gains at most 15 dB over ReferenceTxPower.
const (
	MinCreditedTxPower int8 = -20
	MaxCreditedTxPower int8 = 10
)

// MaxRxCorrection bounds ScoreOptions.RxCorrection either way, in dB. GAEN's
// per-model corrections stay within about ±15 dB; 30 leaves room for an
// external antenna or a controller that reports in its own offset.
const MaxRxCorrection = 30

// Attenuation band floors in dB (spec §8.4): a sighting whose attenuation is
// at most AttenuationNear is near, and so on; above AttenuationFar it is
// distant. With ReferenceTxPower they are the RSSI floors -60, -70 and
// -80 dBm.
const (
	AttenuationNear   = 55
	AttenuationMedium = 65
	AttenuationFar    = 75
)

// RSSI floors of the bands for a sighting of unknown TX power on a receiver
// without correction: ReferenceTxPower minus the attenuation floors. The
// dashboard describes readings with them.
const (
	RSSINear   int8 = ReferenceTxPower - AttenuationNear
	RSSIMedium int8 = ReferenceTxPower - AttenuationMedium
	RSSIFar    int8 = ReferenceTxPower - AttenuationFar
)

// Weights of the exposure score per band (spec §8.4). Distant sightings
// (through a wall, across a hall) weigh nothing, so that hours of them
// never add up to a close contact. An unknown RSSI counts as medium: the
// chirp was heard, so the device was in radio range, but the distance is
// not known. Every weight is a multiple of 1/4, so sums of weighted
// minutes are exact in float64 whatever their order.
const (
	WeightNear    = 1.0
	WeightMedium  = 0.5
	WeightFar     = 0.25
	WeightDistant = 0.0
	WeightUnknown = WeightMedium
)

// MaxScanGap is the longest gap, in minutes, that one sighting of a device
// stands for (spec §8.4): a receiver that scans in bursts hears a device
// once per burst, and the minutes between are credited to the later
// sighting, as GAEN credits a scan with the time since the previous one,
// up to 5 minutes.
const MaxScanGap Minute = 5

// ScoreWindow is the length of the rolling window the notification
// threshold applies to: 24 hours, whatever UTC days it spans.
const ScoreWindow Minute = MinutesPerDay

// DefaultNotifyThreshold is the score of a rolling 24 hours at which a
// device tells its owner: the usual epidemiological close contact, 15
// minutes within about 2 m, in the score's unit of minutes at close range.
const DefaultNotifyThreshold = 15.0

// Limits of a configured notification threshold: at least one weighted
// minute, at most the score of a whole window at close range.
const (
	MinNotifyThreshold = 0.25
	MaxNotifyThreshold = float64(ScoreWindow)
)

// Band is a distance class of the exposure score (spec §8.4).
type Band uint8

// Bands, nearest first.
const (
	BandUnknown Band = iota // no RSSI reading
	BandNear                // attenuation <= AttenuationNear: within 1-2 m
	BandMedium              // <= AttenuationMedium: within about 3 m
	BandFar                 // <= AttenuationFar: within about 8 m
	BandDistant             // further, or through a wall
)

// String names the band as the dashboard and reports do.
func (b Band) String() string {
	switch b {
	case BandNear:
		return "near"
	case BandMedium:
		return "medium"
	case BandFar:
		return "far"
	case BandDistant:
		return "distant"
	}
	return "unknown"
}

// Weight is the band's weight in the exposure score.
func (b Band) Weight() float64 { return float64(b.quarters()) / 4 }

// quarters is Weight in units of 1/4, the score's exact integer unit.
func (b Band) quarters() int64 {
	switch b {
	case BandNear:
		return 4
	case BandMedium:
		return 2
	case BandFar:
		return 1
	case BandDistant:
		return 0
	}
	return 2 // unknown weighs as medium
}

// ErrScoreOptions is a ScoreOptions or threshold outside its limits.
var ErrScoreOptions = errors.New("invalid score options")

// ScoreOptions calibrate the exposure score to the receiver (spec §8.4).
// The zero value is an uncalibrated receiver.
type ScoreOptions struct {
	// RxCorrection is added, in dB, to every RSSI this device reports
	// before the attenuation is computed: GAEN's per-model RSSI
	// correction. A receiver that reads 6 dB low has RxCorrection 6.
	RxCorrection int
}

// Validate checks RxCorrection against MaxRxCorrection.
func (o ScoreOptions) Validate() error {
	if o.RxCorrection < -MaxRxCorrection || o.RxCorrection > MaxRxCorrection {
		return fmt.Errorf("receiver correction %d dB outside ±%d: %w", o.RxCorrection, MaxRxCorrection, ErrScoreOptions)
	}
	return nil
}

// ValidateNotifyThreshold checks a notification threshold against
// MinNotifyThreshold and MaxNotifyThreshold.
func ValidateNotifyThreshold(t float64) error {
	if !(t >= MinNotifyThreshold && t <= MaxNotifyThreshold) {
		return fmt.Errorf("notification threshold %v outside %v..%v: %w", t, MinNotifyThreshold, MaxNotifyThreshold, ErrScoreOptions)
	}
	return nil
}

// Attenuation returns TX power - (RSSI + correction) in dB (spec §8.4), and
// false when the RSSI is unknown. A TxPowerUnknown counts as
// ReferenceTxPower; a known TX power is clamped to MinCreditedTxPower ..
// MaxCreditedTxPower.
func Attenuation(txPower, rssi int8, o ScoreOptions) (int, bool) {
	if rssi == RSSIUnknown {
		return 0, false
	}
	tx := ReferenceTxPower
	if txPower != TxPowerUnknown {
		tx = min(max(txPower, MinCreditedTxPower), MaxCreditedTxPower)
	}
	rx := max(-MaxRxCorrection, min(MaxRxCorrection, o.RxCorrection))
	return int(tx) - (int(rssi) + rx), true
}

// AttenuationBand returns the band of an attenuation; known false (an
// unknown RSSI) is BandUnknown.
func AttenuationBand(dB int, known bool) Band {
	switch {
	case !known:
		return BandUnknown
	case dB <= AttenuationNear:
		return BandNear
	case dB <= AttenuationMedium:
		return BandMedium
	case dB <= AttenuationFar:
		return BandFar
	}
	return BandDistant
}

// SightingBand returns the band of a reading: Attenuation, then
// AttenuationBand.
func SightingBand(txPower, rssi int8, o ScoreOptions) Band {
	return AttenuationBand(Attenuation(txPower, rssi, o))
}

// ExposureWeight returns the weight of one minute in the company of one
// exposed device heard at rssi, for a frame without TX power on an
// uncalibrated receiver (spec §8.4).
func ExposureWeight(rssi int8) float64 {
	return SightingBand(TxPowerUnknown, rssi, ScoreOptions{}).Weight()
}

// Observation is one minute in which the contact log heard one exposed
// device: the input of the exposure score (spec §8.4).
type Observation struct {
	// Device identifies the exposed device as the evidence allows: the
	// seed of a matched tuple (one device-hour), or a Find My key
	// (zero-padded). Only equality is used.
	Device [32]byte
	// FindMy marks evidence from a Find My key rather than a chirp. A
	// minute's score is the larger of the chirp and the Find My evidence,
	// not their sum, so one person's phone and AirTag count once.
	FindMy  bool
	Heard   Minute
	RSSI    int8
	TxPower int8
}

// ObservationOf is the observation of a matched contact.
func ObservationOf(c *Contact) Observation {
	return Observation{Device: c.Seed, Heard: c.Heard, RSSI: c.RSSI, TxPower: c.TxPower}
}

// DayScore is the exposure score of one UTC day (spec §8.4).
type DayScore struct {
	// Day counts days since 1970-01-01.
	Day uint32
	// Score sums the weighted minutes heard on this day.
	Score float64
	// Peak24h is the highest score of a rolling window of ScoreWindow
	// minutes [e-1439, e] whose last minute e lies in this day; it is what
	// the notification threshold is compared with. PeakEnd is the first e
	// that reaches it.
	Peak24h float64
	PeakEnd Minute
	// Near, Medium, Far, Distant and Unknown count the distinct (device,
	// minute heard) pairs of the day by band.
	Near, Medium, Far, Distant, Unknown int
}

// ScoreDays computes the exposure score of spec §8.4 over observations and
// returns one DayScore per UTC day with an observation, in day order:
//
//  1. Each (device, minute heard) takes the band of its smallest
//     attenuation (an unknown reading only when none is known).
//  2. Each of a device's minutes is credited with the gap since the
//     device's previous minute heard when that gap is at most MaxScanGap,
//     and with 1 otherwise (the first minute, or after a longer absence).
//  3. Its weighted minutes are the credit times the band's weight.
//  4. A minute's score is the larger of the sums over its chirp and its
//     Find My observations.
//  5. A day's Score sums its minutes; Peak24h is the best rolling window.
//
// The result does not depend on the order of obs.
func ScoreDays(obs []Observation, o ScoreOptions) []DayScore {
	if len(obs) == 0 {
		return nil
	}
	// Sort a copy by evidence kind, device and minute, so that each
	// device's minutes are one run in order: no map, and the work is a
	// sort and two linear passes.
	type reading struct {
		device [32]byte
		findMy bool
		heard  Minute
		band   Band
	}
	rs := make([]reading, len(obs))
	for i := range obs {
		ob := &obs[i]
		rs[i] = reading{ob.Device, ob.FindMy, ob.Heard, SightingBand(ob.TxPower, ob.RSSI, o)}
	}
	slices.SortFunc(rs, func(x, y reading) int {
		if x.findMy != y.findMy {
			return cmp.Compare(boolInt(x.findMy), boolInt(y.findMy))
		}
		if c := bytes.Compare(x.device[:], y.device[:]); c != 0 {
			return c
		}
		return cmp.Compare(x.heard, y.heard)
	})
	// One term per (device, minute): its best band, credited with the
	// scan gap; quarters of weighted minutes, chirp and Find My apart.
	type term struct {
		heard  Minute
		findMy bool
		band   Band
		q      int64
	}
	terms := make([]term, 0, len(rs))
	for i := 0; i < len(rs); {
		r := rs[i]
		b := r.band
		j := i + 1
		for ; j < len(rs) && rs[j].heard == r.heard && rs[j].device == r.device && rs[j].findMy == r.findMy; j++ {
			if nearer(rs[j].band, b) {
				b = rs[j].band
			}
		}
		credit := Minute(1)
		if i > 0 {
			if p := rs[i-1]; p.device == r.device && p.findMy == r.findMy && r.heard-p.heard <= MaxScanGap {
				credit = r.heard - p.heard
			}
		}
		terms = append(terms, term{r.heard, r.findMy, b, b.quarters() * int64(credit)})
		i = j
	}
	slices.SortFunc(terms, func(x, y term) int { return cmp.Compare(x.heard, y.heard) })
	// The timeline: one score per minute heard, the larger of its chirp
	// and Find My sums, and the days with their band counts.
	type scored struct {
		at Minute
		q  int64
	}
	var timeline []scored
	var out []DayScore
	for i := 0; i < len(terms); {
		at := terms[i].heard
		if n := len(out); n == 0 || out[n-1].Day != at.Day() {
			out = append(out, DayScore{Day: at.Day()})
		}
		d := &out[len(out)-1]
		var chirp, findMy int64
		for ; i < len(terms) && terms[i].heard == at; i++ {
			t := &terms[i]
			if t.findMy {
				findMy += t.q
			} else {
				chirp += t.q
			}
			switch t.band {
			case BandNear:
				d.Near++
			case BandMedium:
				d.Medium++
			case BandFar:
				d.Far++
			case BandDistant:
				d.Distant++
			default:
				d.Unknown++
			}
		}
		q := max(chirp, findMy)
		timeline = append(timeline, scored{at, q})
		d.Score += float64(q) / 4
	}
	// prefix[i] is the sum of timeline[:i].
	prefix := make([]int64, len(timeline)+1)
	for i, s := range timeline {
		prefix[i+1] = prefix[i] + s.q
	}
	// window returns the quarters of the rolling window ending at e.
	window := func(e Minute) int64 {
		hi := sort.Search(len(timeline), func(i int) bool { return timeline[i].at > e })
		var from Minute
		if e >= ScoreWindow {
			from = e - ScoreWindow + 1
		}
		lo := sort.Search(len(timeline), func(i int) bool { return timeline[i].at >= from })
		return prefix[hi] - prefix[lo]
	}
	next := 0 // first timeline entry of the day at hand
	for k := range out {
		d := &out[k]
		// The window's sum only grows at a minute with a score, and the
		// first window of the day carries the previous day's tail: those
		// are the only ends that can be the day's peak.
		start := Minute(d.Day) * MinutesPerDay
		bestQ, bestEnd := window(start), start
		for ; next < len(timeline) && timeline[next].at.Day() == d.Day; next++ {
			if w := window(timeline[next].at); w > bestQ {
				bestQ, bestEnd = w, timeline[next].at
			}
		}
		d.Peak24h, d.PeakEnd = float64(bestQ)/4, bestEnd
	}
	return out
}

// PeakScore returns the highest Peak24h of days, and the window's end.
func PeakScore(days []DayScore) (float64, Minute) {
	var peak float64
	var end Minute
	for _, d := range days {
		if d.Peak24h > peak {
			peak, end = d.Peak24h, d.PeakEnd
		}
	}
	return peak, end
}

// nearer reports whether band a counts for more than b: a known reading
// beats an unknown one, and a nearer band a farther one.
func nearer(a, b Band) bool {
	switch {
	case a == BandUnknown:
		return false
	case b == BandUnknown:
		return true
	}
	return a < b
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// DaySummary condenses one UTC day of contacts (spec §8.4). The day of a
// contact is the day of the minute it was heard.
type DaySummary struct {
	// Day counts days since 1970-01-01.
	Day uint32
	// Minutes is the number of distinct minutes in which at least one
	// exposed chirp was heard.
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
	// Score is the exposure score of the minutes heard this day
	// (DayScore.Score): weighted minutes at close range.
	Score float64
	// Peak24h is the highest score of a rolling 24 hours ending this day,
	// which the notification threshold is compared with, and PeakEnd the
	// last minute of that window (DayScore).
	Peak24h float64
	PeakEnd Minute
}

// Date returns the start of the day in UTC.
func (d DaySummary) Date() time.Time { return Minute(d.Day * MinutesPerDay).Time() }

// String renders the summary on one line for logs and reports.
func (d DaySummary) String() string {
	rssi := "RSSI unknown"
	if d.RSSISamples > 0 {
		rssi = fmt.Sprintf("RSSI max %d dBm, mean %.1f dBm", d.MaxRSSI, d.MeanRSSI)
	}
	return fmt.Sprintf("%s: %d min exposed, %d contacts, %d sightings, %s, score %.2f, 24 h peak %.2f",
		d.Date().Format(time.DateOnly), d.Minutes, d.Contacts, d.Sightings, rssi, d.Score, d.Peak24h)
}

type dayAccumulator struct {
	matched []uint64 // bit per index entry already counted
	byDay   map[uint32]*dayTotals
	obs     []Observation
	opts    ScoreOptions
}

type dayTotals struct {
	minutes   map[Minute]struct{}
	seeds     map[Seed]struct{}
	sightings int
	maxRSSI   int8
	sumRSSI   int64
	samples   int
}

func newDayAccumulator(entries int, opts ScoreOptions) *dayAccumulator {
	return &dayAccumulator{matched: make([]uint64, (entries+63)/64), byDay: map[uint32]*dayTotals{}, opts: opts}
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
			maxRSSI: RSSIUnknown,
		}
		a.byDay[day] = d
	}
	d.minutes[c.Heard] = struct{}{}
	d.seeds[c.Seed] = struct{}{}
	a.obs = append(a.obs, ObservationOf(c))
	d.sightings++
	d.maxRSSI = MergeRSSI(d.maxRSSI, c.RSSI)
	if c.RSSI != RSSIUnknown {
		d.sumRSSI += int64(c.RSSI)
		d.samples++
	}
}

func (a *dayAccumulator) days() []DaySummary {
	scores := ScoreDays(a.obs, a.opts)
	out := make([]DaySummary, 0, len(scores))
	for _, sc := range scores {
		d := a.byDay[sc.Day]
		s := DaySummary{
			Day:         sc.Day,
			Minutes:     len(d.minutes),
			Contacts:    len(d.seeds),
			Sightings:   d.sightings,
			MaxRSSI:     d.maxRSSI,
			RSSISamples: d.samples,
			Score:       sc.Score,
			Peak24h:     sc.Peak24h,
			PeakEnd:     sc.PeakEnd,
		}
		if d.samples > 0 {
			s.MeanRSSI = float64(d.sumRSSI) / float64(d.samples)
		}
		out = append(out, s)
	}
	return out
}
