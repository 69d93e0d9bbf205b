package pact

import (
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestAttenuationBands(t *testing.T) {
	for _, tc := range []struct {
		name     string
		tx, rssi int8
		rx       int
		wantDB   int
		wantBand Band
	}{
		{"unknown TX counts as the reference -5 dBm", TxPowerUnknown, -60, 0, 55, BandNear},
		{"one dB weaker is medium", TxPowerUnknown, -61, 0, 56, BandMedium},
		{"medium floor", TxPowerUnknown, -70, 0, 65, BandMedium},
		{"far", TxPowerUnknown, -71, 0, 66, BandFar},
		{"far floor", TxPowerUnknown, -80, 0, 75, BandFar},
		{"distant", TxPowerUnknown, -81, 0, 76, BandDistant},
		{"a loud sender is further away at the same RSSI", 10, -60, 0, 70, BandFar},
		{"a quiet sender is nearer at the same RSSI", -15, -70, 0, 55, BandNear},
		{"a claim below -20 dBm counts as -20", -60, -80, 0, 60, BandMedium},
		{"a claim above +10 dBm counts as +10", 20, -50, 0, 60, BandMedium},
		{"a receiver that reads 6 dB low is corrected", TxPowerUnknown, -66, 6, 55, BandNear},
		{"a receiver that reads 6 dB high is corrected", TxPowerUnknown, -55, -6, 56, BandMedium},
		{"a correction beyond the limit counts as the limit", TxPowerUnknown, -100, 90, 65, BandMedium},
		{"strongest possible reading", TxPowerUnknown, 126, 0, -131, BandNear},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, known := Attenuation(tc.tx, tc.rssi, ScoreOptions{RxCorrection: tc.rx})
			if !known || db != tc.wantDB {
				t.Fatalf("Attenuation = %d, %v; want %d, true", db, known, tc.wantDB)
			}
			if b := SightingBand(tc.tx, tc.rssi, ScoreOptions{RxCorrection: tc.rx}); b != tc.wantBand {
				t.Fatalf("band %v, want %v", b, tc.wantBand)
			}
		})
	}
	if _, known := Attenuation(0, RSSIUnknown, ScoreOptions{}); known {
		t.Error("an unknown RSSI has a known attenuation")
	}
	if b := SightingBand(0, RSSIUnknown, ScoreOptions{}); b != BandUnknown || b.Weight() != WeightUnknown {
		t.Errorf("unknown RSSI: band %v weight %v, want unknown %v", b, b.Weight(), WeightUnknown)
	}
	for b, w := range map[Band]float64{BandNear: WeightNear, BandMedium: WeightMedium, BandFar: WeightFar, BandDistant: WeightDistant, BandUnknown: WeightUnknown} {
		if b.Weight() != w {
			t.Errorf("%v weighs %v, want %v", b, b.Weight(), w)
		}
	}
	// The RSSI floors are the attenuation floors at the reference power.
	for _, tc := range []struct {
		rssi int8
		want Band
	}{{RSSINear, BandNear}, {RSSIMedium, BandMedium}, {RSSIFar, BandFar}, {RSSIFar - 1, BandDistant}} {
		if b := SightingBand(TxPowerUnknown, tc.rssi, ScoreOptions{}); b != tc.want {
			t.Errorf("RSSI %d: band %v, want %v", tc.rssi, b, tc.want)
		}
	}
}

func TestScoreOptionsValidate(t *testing.T) {
	for _, tc := range []struct {
		rx      int
		wantErr bool
	}{{0, false}, {MaxRxCorrection, false}, {-MaxRxCorrection, false}, {MaxRxCorrection + 1, true}, {-MaxRxCorrection - 1, true}} {
		err := ScoreOptions{RxCorrection: tc.rx}.Validate()
		if (err != nil) != tc.wantErr || (err != nil && !errors.Is(err, ErrScoreOptions)) {
			t.Errorf("RxCorrection %d: %v, want error %v wrapping ErrScoreOptions", tc.rx, err, tc.wantErr)
		}
	}
	for _, tc := range []struct {
		threshold float64
		wantErr   bool
	}{{DefaultNotifyThreshold, false}, {MinNotifyThreshold, false}, {MaxNotifyThreshold, false}, {0, true}, {-1, true}, {MaxNotifyThreshold + 1, true}} {
		err := ValidateNotifyThreshold(tc.threshold)
		if (err != nil) != tc.wantErr || (err != nil && !errors.Is(err, ErrScoreOptions)) {
			t.Errorf("threshold %v: %v, want error %v wrapping ErrScoreOptions", tc.threshold, err, tc.wantErr)
		}
	}
}

// scoreDay is the part of a DayScore the score tests compare.
type scoreDay struct {
	day            uint32
	score, peak    float64
	peakEnd        Minute
	near, distant  int
	medium, far    int
	unknownReading int
}

// The tests' clock: 2026-11-02T00:00Z is day 20759.
const scoreDay0 = Minute(20759 * MinutesPerDay)

// heardEvery returns the observations of device d heard every step minutes
// over [from, from+span), at rssi, of unknown TX power.
func heardEvery(d byte, findMy bool, from, span, step Minute, rssi int8) []Observation {
	var out []Observation
	for m := from; m < from+span; m += step {
		out = append(out, Observation{Device: [32]byte{d}, FindMy: findMy, Heard: m, RSSI: rssi, TxPower: TxPowerUnknown})
	}
	return out
}

func TestScoreDays(t *testing.T) {
	day0, day1 := uint32(20759), uint32(20760)
	for _, tc := range []struct {
		name string
		obs  []Observation
		opts ScoreOptions
		want []scoreDay
	}{
		{
			// The reference example of issue 11: a neighbour heard
			// through a wall for 8 hours scored 48 under the old 0.1
			// weight, against 15 for 15 minutes face to face.
			name: "a neighbour through a wall for 8 hours scores nothing",
			obs:  heardEvery(1, false, scoreDay0+14*60, 8*60, 1, -85),
			want: []scoreDay{{day: day0, score: 0, peak: 0, peakEnd: scoreDay0, distant: 480}},
		},
		{
			name: "15 minutes face to face score 15, the default threshold",
			obs:  heardEvery(2, false, scoreDay0+12*60, 15, 1, -50),
			want: []scoreDay{{day: day0, score: 15, peak: 15, peakEnd: scoreDay0 + 12*60 + 14, near: 15}},
		},
		{
			name: "a burst scanner every 4 minutes credits the gaps",
			// Heard at 0, 4, 8, 12: 1 + 4 + 4 + 4 minutes.
			obs:  heardEvery(3, false, scoreDay0+600, 13, 4, -55),
			want: []scoreDay{{day: day0, score: 13, peak: 13, peakEnd: scoreDay0 + 612, near: 4}},
		},
		{
			name: "a gap above 5 minutes counts as the device leaving",
			obs: slices.Concat(
				heardEvery(4, false, scoreDay0+600, 1, 1, -55), // credit 1
				heardEvery(4, false, scoreDay0+605, 1, 1, -55), // gap 5: credit 5
				heardEvery(4, false, scoreDay0+611, 1, 1, -55), // gap 6: credit 1
			),
			want: []scoreDay{{day: day0, score: 7, peak: 7, peakEnd: scoreDay0 + 611, near: 3}},
		},
		{
			name: "the credited gap takes the weight of the later minute",
			obs: slices.Concat(
				heardEvery(5, false, scoreDay0+600, 1, 1, -85), // distant: 0
				heardEvery(5, false, scoreDay0+603, 1, 1, -65), // medium, credit 3: 1.5
			),
			want: []scoreDay{{day: day0, score: 1.5, peak: 1.5, peakEnd: scoreDay0 + 603, medium: 1, distant: 1}},
		},
		{
			name: "a contact across midnight counts in one rolling window",
			obs:  heardEvery(6, false, scoreDay0+MinutesPerDay-10, 20, 1, -55),
			want: []scoreDay{
				{day: day0, score: 10, peak: 10, peakEnd: scoreDay0 + MinutesPerDay - 1, near: 10},
				{day: day1, score: 10, peak: 20, peakEnd: scoreDay0 + MinutesPerDay + 9, near: 10},
			},
		},
		{
			name: "the window forgets a contact 24 hours later",
			obs: slices.Concat(
				heardEvery(7, false, scoreDay0+600, 10, 1, -55),
				heardEvery(8, false, scoreDay0+600+MinutesPerDay, 10, 1, -55),
			),
			want: []scoreDay{
				{day: day0, score: 10, peak: 10, peakEnd: scoreDay0 + 609, near: 10},
				// Every window ending on day 1 holds 10 weighted minutes:
				// as day 1's 10:00-10:09 enter, day 0's leave one for one.
				// The first such window, ending at 00:00, is the peak.
				{day: day1, score: 10, peak: 10, peakEnd: scoreDay0 + MinutesPerDay, near: 10},
			},
		},
		{
			name: "one person's phone and AirTag in the same minutes count once",
			obs: slices.Concat(
				heardEvery(9, false, scoreDay0+600, 10, 1, -55),
				heardEvery(10, true, scoreDay0+600, 10, 1, -55),
			),
			want: []scoreDay{{day: day0, score: 10, peak: 10, peakEnd: scoreDay0 + 609, near: 20}},
		},
		{
			name: "two phones in the same minutes count twice",
			obs: slices.Concat(
				heardEvery(11, false, scoreDay0+600, 10, 1, -55),
				heardEvery(12, false, scoreDay0+600, 10, 1, -55),
			),
			want: []scoreDay{{day: day0, score: 20, peak: 20, peakEnd: scoreDay0 + 609, near: 20}},
		},
		{
			name: "a minute takes the larger of its chirp and Find My evidence",
			obs: slices.Concat(
				heardEvery(13, false, scoreDay0+600, 1, 1, -75), // far: 0.25
				heardEvery(14, true, scoreDay0+600, 1, 1, -55),  // near: 1
			),
			want: []scoreDay{{day: day0, score: 1, peak: 1, peakEnd: scoreDay0 + 600, near: 1, far: 1}},
		},
		{
			name: "the strongest reading of a device's minute counts, unknown only alone",
			obs: []Observation{
				{Device: [32]byte{15}, Heard: scoreDay0 + 600, RSSI: RSSIUnknown, TxPower: TxPowerUnknown},
				{Device: [32]byte{15}, Heard: scoreDay0 + 600, RSSI: -85, TxPower: TxPowerUnknown},
				{Device: [32]byte{15}, Heard: scoreDay0 + 600, RSSI: -75, TxPower: TxPowerUnknown},
				{Device: [32]byte{16}, Heard: scoreDay0 + 600, RSSI: RSSIUnknown, TxPower: TxPowerUnknown},
			},
			want: []scoreDay{{day: day0, score: 0.75, peak: 0.75, peakEnd: scoreDay0 + 600, far: 1, unknownReading: 1}},
		},
		{
			name: "the receiver correction moves every reading",
			obs:  heardEvery(17, false, scoreDay0+600, 4, 1, -66),
			opts: ScoreOptions{RxCorrection: 6},
			want: []scoreDay{{day: day0, score: 4, peak: 4, peakEnd: scoreDay0 + 603, near: 4}},
		},
		{
			name: "a new seed at the hour starts a new credit chain",
			obs: slices.Concat(
				heardEvery(18, false, scoreDay0+656, 1, 1, -55), // 10:56, seed of 10:00
				heardEvery(19, false, scoreDay0+660, 1, 1, -55), // 11:00, seed of 11:00: credit 1, not 4
			),
			want: []scoreDay{{day: day0, score: 2, peak: 2, peakEnd: scoreDay0 + 660, near: 2}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ScoreDays(tc.obs, tc.opts)
			var gotDays []scoreDay
			for _, d := range got {
				gotDays = append(gotDays, scoreDay{day: d.Day, score: d.Score, peak: d.Peak24h, peakEnd: d.PeakEnd,
					near: d.Near, medium: d.Medium, far: d.Far, distant: d.Distant, unknownReading: d.Unknown})
			}
			if !slices.Equal(gotDays, tc.want) {
				t.Fatalf("ScoreDays =\n %+v\nwant\n %+v", gotDays, tc.want)
			}
			// The order of the observations does not matter.
			shuffled := slices.Clone(tc.obs)
			rand.New(rand.NewPCG(1, 2)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
			if again := ScoreDays(shuffled, tc.opts); !slices.Equal(again, got) {
				t.Fatalf("shuffled input gives %+v, want %+v", again, got)
			}
		})
	}
}

// TestNotifyThresholdReferenceExample is the reference example of issue 11
// end to end: the matched contacts of a neighbour heard through a wall all
// night and of 15 minutes face to face, summarised as a device does. Only
// the second reaches the default threshold.
func TestNotifyThresholdReferenceExample(t *testing.T) {
	neighbour, friend := Seed{1}, Seed{2}
	var cs []Contact
	for m := scoreDay0 + 22*60; m < scoreDay0+30*60; m++ {
		// The neighbour's seed changes every hour; the wall keeps the
		// reading at -85 dBm.
		s := neighbour
		s[1] = byte(m / 60)
		cs = append(cs, Contact{Seed: s, ChirpMinute: m, Heard: m, Chirp: ChirpAt(&s, m), RSSI: -85, TxPower: TxPowerUnknown})
	}
	for m := scoreDay0 + 36*60; m < scoreDay0+36*60+15; m++ {
		cs = append(cs, Contact{Seed: friend, ChirpMinute: m, Heard: m, Chirp: ChirpAt(&friend, m), RSSI: -52, TxPower: -4})
	}
	days := SummarizeContacts(cs, ScoreOptions{})
	for _, tc := range []struct {
		name      string
		day       uint32
		wantScore float64
		wantPeak  float64
		notify    bool
	}{
		{"evening: the neighbour", 20759, 0, 0, false},
		{"next day: the neighbour until 06:00, then the friend at noon", 20760, 15, 15, true},
	} {
		i := slices.IndexFunc(days, func(d DaySummary) bool { return d.Day == tc.day })
		if i < 0 {
			t.Fatalf("%s: no summary for day %d in %v", tc.name, tc.day, days)
		}
		d := days[i]
		if d.Score != tc.wantScore || d.Peak24h != tc.wantPeak || (d.Peak24h >= DefaultNotifyThreshold) != tc.notify {
			t.Errorf("%s: %v; want score %v, peak %v, notify %v", tc.name, d, tc.wantScore, tc.wantPeak, tc.notify)
		}
	}
}
