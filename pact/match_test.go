package pact

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// matchCaseFile is the layout of testdata/match/cases.json.
type matchCaseFile struct {
	BaseMinute Minute            `json:"base_minute"`
	Seeds      map[string]string `json:"seeds"`
	Cases      []matchCase       `json:"cases"`
}

type matchCase struct {
	Name    string `json:"name"`
	Options struct {
		Tolerance Minute `json:"tolerance"`
		Exact     bool   `json:"exact"`
		From      *int   `json:"from"`
		To        *int   `json:"to"`
	} `json:"options"`
	Tuples []struct {
		Seed  string `json:"seed"`
		Start int    `json:"start"`
		End   int    `json:"end"`
	} `json:"tuples"`
	Sightings []struct {
		Seed        string      `json:"seed"`
		ChirpMinute int         `json:"chirp_minute"`
		Chirp       string      `json:"chirp"`
		Heard       int         `json:"heard"`
		RSSI        int8        `json:"rssi"`
		TxPower     *int8       `json:"tx_power"` // absent: TxPowerUnknown
		Source      Source      `json:"source"`
		Location    *[2]float64 `json:"location"`
	} `json:"sightings"`
	WantContacts []wantContact `json:"want_contacts"`
	WantStats    struct {
		Tuples  int64 `json:"tuples"`
		Skipped int64 `json:"skipped"`
		Keys    int64 `json:"keys"`
		Chirps  int64 `json:"chirps"`
	} `json:"want_stats"`
	WantDays []wantDay `json:"want_days"`
	// WantIndirectDays are the summaries of the contacts heard from a
	// repeater, which Match reports apart (spec §9.1.3).
	WantIndirectDays []wantDay `json:"want_indirect_days"`
	// WantError names the sentinel the error wraps (see matchErrors);
	// for a tuple's error, WantErrorTuple is the index it names.
	WantError      string `json:"want_error"`
	WantErrorTuple int64  `json:"want_error_tuple"`
}

// matchErrors are the sentinels the want_error of testdata/match names.
var matchErrors = map[string]error{"order": ErrTimeOrder, "window": ErrWindow, "hour": ErrHourBoundary, "span": ErrMatchSpan, "options": ErrMatchOptions}

type wantDay struct {
	Day       uint32  `json:"day"`
	Minutes   int     `json:"minutes"`
	Contacts  int     `json:"contacts"`
	Sightings int     `json:"sightings"`
	MaxRSSI   int8    `json:"max_rssi"`
	MeanRSSI  float64 `json:"mean_rssi"`
	Samples   int     `json:"samples"`
	Score     float64 `json:"score"`
	Peak24h   float64 `json:"peak_24h"`
}

type wantContact struct {
	Tuple       int64       `json:"tuple"`
	ChirpMinute int         `json:"chirp_minute"`
	Heard       int         `json:"heard"`
	RSSI        int8        `json:"rssi"`
	Source      Source      `json:"source"`
	Location    *[2]float64 `json:"location"`
}

func loadMatchCases(t *testing.T) matchCaseFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "match", "cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f matchCaseFile
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("cases.json: %v", err)
	}
	return f
}

func TestMatchCases(t *testing.T) {
	f := loadMatchCases(t)
	seeds := map[string]Seed{}
	for name, h := range f.Seeds {
		s, err := ParseSeed(h)
		if err != nil {
			t.Fatalf("seed %s: %v", name, err)
		}
		seeds[name] = s
	}
	at := func(off int) Minute { return f.BaseMinute + Minute(off) }
	for _, tc := range f.Cases {
		t.Run(tc.Name, func(t *testing.T) {
			opts := MatchOptions{Tolerance: tc.Options.Tolerance, ExactMinute: tc.Options.Exact}
			if tc.Options.From != nil {
				opts.From, opts.To = at(*tc.Options.From), at(*tc.Options.To)
			}
			var log []Sighting
			for _, s := range tc.Sightings {
				sg := Sighting{Minute: at(s.Heard), RSSI: s.RSSI, TxPower: TxPowerUnknown, Source: s.Source}
				if s.TxPower != nil {
					sg.TxPower = *s.TxPower
				}
				if s.Chirp != "" {
					c, err := ParseChirp(s.Chirp)
					if err != nil {
						t.Fatal(err)
					}
					sg.Chirp = c
				} else {
					seed := seeds[s.Seed]
					sg.Chirp = ChirpAt(&seed, at(s.ChirpMinute))
				}
				if s.Location != nil {
					sg.Location = &Location{Lat: s.Location[0], Lon: s.Location[1]}
				}
				log = append(log, sg)
			}
			var tuples []Tuple
			for _, tu := range tc.Tuples {
				tuples = append(tuples, Tuple{Seed: seeds[tu.Seed], Start: at(tu.Start), End: at(tu.End)})
			}
			for _, mode := range []string{"smart", "naive", "sealed", "sealed-naive"} {
				var m *Matcher
				var err error
				if strings.HasPrefix(mode, "sealed") {
					m, err = NewSealedMatcher(slices.Values(sealLog(t, log)), opts)
				} else {
					m, err = NewMatcher(slices.Values(log), opts)
				}
				if err == nil {
					var got []Contact
					run := m.Match
					if strings.HasSuffix(mode, "naive") {
						run = m.MatchNaive
					}
					var rep MatchReport
					rep, err = run(TupleSeq(tuples), func(c Contact) error {
						got = append(got, c)
						return nil
					})
					if err == nil {
						tc := tc
						if mode == "sealed" {
							tc.WantStats.Skipped, tc.WantStats.Keys, tc.WantStats.Chirps = allIndirectStats(t, log, tuples, opts)
						}
						checkMatchCase(t, mode, tc, seeds, tuples, at, got, rep)
						continue
					}
				}
				if tc.WantError == "" {
					t.Fatalf("%s: %v", mode, err)
				}
				want, ok := matchErrors[tc.WantError]
				if !ok {
					t.Fatalf("want_error %q names no sentinel", tc.WantError)
				}
				if !errors.Is(err, want) {
					t.Fatalf("%s: error %v, want %v", mode, err, want)
				}
				var te *ExposureTupleError
				if errors.As(err, &te) != (want == ErrTimeOrder || want == ErrWindow || want == ErrHourBoundary) {
					t.Fatalf("%s: error %v: an *ExposureTupleError is %v", mode, err, te != nil)
				}
				if te != nil && te.Index != tc.WantErrorTuple {
					t.Fatalf("%s: error names tuple %d, want %d", mode, te.Index, tc.WantErrorTuple)
				}
			}
		})
	}
}

func checkMatchCase(t *testing.T, mode string, tc matchCase, seeds map[string]Seed, tuples []Tuple, at func(int) Minute, got []Contact, rep MatchReport) {
	t.Helper()
	if tc.WantError != "" {
		t.Fatalf("%s: no error, want %q", mode, tc.WantError)
	}
	if len(got) != len(tc.WantContacts) {
		t.Fatalf("%s: %d contacts %+v, want %d", mode, len(got), got, len(tc.WantContacts))
	}
	for i, w := range tc.WantContacts {
		c := got[i]
		tu := tuples[w.Tuple]
		want := Contact{
			TupleIndex: w.Tuple, Seed: tu.Seed, ChirpMinute: at(w.ChirpMinute), Heard: at(w.Heard),
			Chirp: ChirpAt(&tu.Seed, at(w.ChirpMinute)), RSSI: w.RSSI, TxPower: c.TxPower, Source: w.Source,
		}
		if w.Location != nil {
			want.Location = &Location{Lat: w.Location[0], Lon: w.Location[1]}
		}
		if (c.Location == nil) != (want.Location == nil) || (c.Location != nil && *c.Location != *want.Location) {
			t.Errorf("%s: contact %d location %v, want %v", mode, i, c.Location, want.Location)
		}
		c.Location, want.Location = nil, nil
		if c != want {
			t.Errorf("%s: contact %d\n got %+v\nwant %+v", mode, i, c, want)
		}
	}
	st := rep.Stats
	if st.Tuples != tc.WantStats.Tuples || st.Contacts != int64(len(tc.WantContacts)) {
		t.Errorf("%s: stats %+v, want %d tuples and %d contacts", mode, st, tc.WantStats.Tuples, len(tc.WantContacts))
	}
	if !strings.HasSuffix(mode, "naive") {
		if st.TuplesSkipped != tc.WantStats.Skipped || st.KeysDerived != tc.WantStats.Keys || st.ChirpsComputed != tc.WantStats.Chirps {
			t.Errorf("%s: skipped %d, keys %d, chirps %d; want %d, %d, %d", mode, st.TuplesSkipped, st.KeysDerived, st.ChirpsComputed,
				tc.WantStats.Skipped, tc.WantStats.Keys, tc.WantStats.Chirps)
		}
	} else {
		var minutes int64
		for _, tu := range tuples {
			minutes += int64(tu.Minutes())
		}
		if st.KeysDerived != int64(len(tuples)) || st.ChirpsComputed != minutes || st.TuplesSkipped != 0 {
			t.Errorf("naive: keys %d, chirps %d, skipped %d; want %d, %d, 0", st.KeysDerived, st.ChirpsComputed, st.TuplesSkipped, len(tuples), minutes)
		}
	}
	checkDays(t, mode+" direct", rep.Days, tc.WantDays)
	checkDays(t, mode+" indirect", rep.Indirect, tc.WantIndirectDays)
	// A device that stores its contacts summarises them the same way.
	direct, indirect := SplitContacts(got)
	checkDays(t, mode+" stored direct", SummarizeContacts(direct, ScoreOptions{}), tc.WantDays)
	checkDays(t, mode+" stored indirect", SummarizeContacts(indirect, ScoreOptions{}), tc.WantIndirectDays)
}

func checkDays(t *testing.T, what string, got []DaySummary, want []wantDay) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: days %+v, want %+v", what, got, want)
	}
	for i, w := range want {
		d := got[i]
		if d.Day != w.Day || d.Minutes != w.Minutes || d.Contacts != w.Contacts || d.Sightings != w.Sightings ||
			d.MaxRSSI != w.MaxRSSI || d.RSSISamples != w.Samples ||
			math.Abs(d.MeanRSSI-w.MeanRSSI) > 1e-9 || d.Score != w.Score || d.Peak24h != w.Peak24h {
			t.Errorf("%s: day %d\n got %+v\nwant %+v", what, i, d, w)
		}
	}
}

func TestExposureWeightBands(t *testing.T) {
	for _, tc := range []struct {
		rssi int8
		want float64
	}{
		{RSSIUnknown, WeightUnknown}, {0, WeightNear}, {-60, WeightNear}, {-61, WeightMedium}, {-70, WeightMedium},
		{-71, WeightFar}, {-80, WeightFar}, {-81, WeightDistant}, {-128, WeightDistant},
	} {
		if got := ExposureWeight(tc.rssi); got != tc.want {
			t.Errorf("ExposureWeight(%d) = %v, want %v", tc.rssi, got, tc.want)
		}
	}
}

// TestMatchStop checks that a callback can end a match early.
func TestMatchStop(t *testing.T) {
	seed := Seed{1}
	log := []Sighting{
		{Chirp: ChirpAt(&seed, 1000), Minute: 1000, RSSI: -50, Source: SourcePACT},
		{Chirp: ChirpAt(&seed, 1001), Minute: 1001, RSSI: -50, Source: SourcePACT},
	}
	m, err := NewMatcher(slices.Values(log), MatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	rep, err := m.Match(TupleSeq([]Tuple{{Seed: seed, Start: 960, End: 1019}}), func(Contact) error {
		calls++
		return ErrStopMatch
	})
	if err != nil || calls != 1 || rep.Stats.Contacts != 1 {
		t.Fatalf("stop: err %v, calls %d, stats %+v; want one contact and no error", err, calls, rep.Stats)
	}
}

// TestMatchStreamError checks that a failing exposure stream ends the
// match with an error naming the position, after the contacts of the
// tuples before it were reported.
func TestMatchStreamError(t *testing.T) {
	seed := Seed{1}
	log := []Sighting{{Chirp: ChirpAt(&seed, 1000), Minute: 1000, RSSI: -50, Source: SourcePACT}}
	m, err := NewMatcher(slices.Values(log), MatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	broken := errors.New("batch truncated")
	stream := func(yield func(Tuple, error) bool) {
		if !yield(Tuple{Seed: seed, Start: 960, End: 1019}, nil) || !yield(Tuple{Seed: Seed{2}, Start: 960, End: 1019}, nil) {
			return
		}
		yield(Tuple{}, broken)
	}
	var got []Contact
	rep, err := m.Match(stream, func(c Contact) error { got = append(got, c); return nil })
	var te *ExposureTupleError
	if !errors.Is(err, broken) || !errors.As(err, &te) || te.Index != 2 {
		t.Fatalf("error %v, want it to wrap %v at tuple 2", err, broken)
	}
	if len(got) != 1 || rep.Stats.Tuples != 2 || len(rep.Days) != 1 {
		t.Fatalf("contacts %v, stats %+v, days %+v: want the contact of tuple 0", got, rep.Stats, rep.Days)
	}
}

func TestDaySummaryString(t *testing.T) {
	for _, tc := range []struct {
		d    DaySummary
		want string
	}{
		{DaySummary{Day: 20759, Minutes: 3, Contacts: 2, Sightings: 3, MaxRSSI: -50, MeanRSSI: -61, RSSISamples: 2, Score: 1.75, Peak24h: 1.75},
			"2026-11-02: 3 min exposed, 2 contacts, 3 sightings, RSSI max -50 dBm, mean -61.0 dBm, score 1.75, 24 h peak 1.75"},
		{DaySummary{Day: 20760, Minutes: 1, Contacts: 1, Sightings: 1, MaxRSSI: RSSIUnknown, Score: 0.5, Peak24h: 2.25},
			"2026-11-03: 1 min exposed, 1 contacts, 1 sightings, RSSI unknown, score 0.50, 24 h peak 2.25"},
	} {
		if got := tc.d.String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
	}
}

// sealLog returns log as a hidden contact log holds it (spec §9.3): merged
// per (chirp, minute) like any contact log, then sealed.
// allIndirectStats returns the tuples skipped, keys derived and chirps
// computed by a plain index of log in which every sighting is repeated.
// A hidden index does that work: a row's source is sealed, so every row
// may be a repeated one, heard up to MaxRepeatDelay late (spec §9.3.3).
func allIndirectStats(t *testing.T, log []Sighting, tuples []Tuple, opts MatchOptions) (skipped, keys, chirps int64) {
	t.Helper()
	indirect := slices.Clone(log)
	for i := range indirect {
		if indirect[i].Source == SourceFindMy {
			indirect[i].Source = SourceFindMyRepeater
		} else {
			indirect[i].Source = SourceRepeater
		}
	}
	m, err := NewMatcher(slices.Values(indirect), opts)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := m.Match(TupleSeq(tuples), func(Contact) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	return rep.Stats.TuplesSkipped, rep.Stats.KeysDerived, rep.Stats.ChirpsComputed
}

func sealLog(t *testing.T, log []Sighting) []SealedSighting {
	t.Helper()
	store := NewMemStore()
	if err := store.AddSightings(context.Background(), log); err != nil {
		t.Fatal(err)
	}
	var sealed []SealedSighting
	err := store.Sightings(context.Background(), 0, ^Minute(0), func(s Sighting) error {
		ss, err := SealSighting(&s, nil)
		sealed = append(sealed, ss)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return sealed
}
