package web

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/pact-findmy/pact-findmy/pact"
)

// testNow is the clock of the HTTP tests: 2026-11-05 12:00 UTC.
var testNow = time.Date(2026, 11, 5, 12, 0, 0, 0, time.UTC)

// testBackend is a Backend with fixed answers for the HTTP layer's tests.
// It records share calls and keeps saved settings, so tests can check what
// reached it.
type testBackend struct {
	mu         sync.Mutex
	status     Status
	exposures  Exposures
	contacts   ContactLog
	harvester  Harvester
	settings   Settings
	previews   []ShareRequest
	submits    []ShareRequest
	result     ShareResult
	previewErr error
	failAll    error
}

func newTestBackend() *testBackend {
	day := time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC)
	var ms []Match
	for i := range 25 {
		ms = append(ms, Match{Heard: day.Add(8*time.Hour + time.Duration(i)*time.Minute), Source: SourcePACT, Contact: "a", RSSI: -52 - i})
	}
	ms = append(ms,
		Match{Heard: day.Add(-24*time.Hour + 18*time.Hour), Source: SourceFindMy, Contact: "k1", RSSI: -75},
		Match{Heard: day.Add(-24*time.Hour + 18*time.Hour + time.Minute), Source: SourceFindMy, Contact: "k1", RSSI: RSSIUnknown},
		Match{Heard: day.Add(-48*time.Hour + 9*time.Hour), Source: SourcePACT, Contact: "r", RSSI: -66, ReverseTracing: true},
	)
	days, possible := SplitReverse(Summarize(ms, pact.ScoreOptions{}))
	// The notification as DeviceStats would give it: every match but the
	// reverse-tracing one, scored together.
	var obs []pact.Observation
	for i := range ms {
		if !ms[i].ReverseTracing {
			obs = append(obs, ms[i].observation())
		}
	}
	peak, end := pact.PeakScore(pact.ScoreDays(obs, pact.ScoreOptions{}))
	note := Notification{Threshold: pact.DefaultNotifyThreshold, Peak24h: peak, PeakEnd: end.Time(), Reached: peak >= pact.DefaultNotifyThreshold}
	statusDays := append([]DaySummary(nil), days...)
	statusPossible := append([]DaySummary(nil), possible...)
	for _, ds := range [][]DaySummary{statusDays, statusPossible} {
		for i := range ds {
			ds[i].Timeline = nil
		}
	}
	hours := []HourCount{}
	for h := range ContactLogHours {
		t := testNow.Truncate(time.Hour).Add(time.Duration(h-ContactLogHours+1) * time.Hour)
		if t.Hour() < 7 {
			continue
		}
		hours = append(hours, HourCount{Hour: t, BySource: map[string]int64{"pact": int64(40 + h%30), "findmy": int64(10 + h%7), "repeater": int64(h % 3)}})
	}
	return &testBackend{
		status: Status{
			Now: testNow, WindowDays: ExposureWindowDays, Exposed: true, Days: statusDays, PossibleSource: statusPossible,
			Servers:  []ServerStatus{{Name: "health-eu", URL: "https://exposures.example.org", LastSync: testNow.Add(-7 * time.Minute)}},
			Chirping: true, Adapter: Adapter{Name: "hci0", State: "scanning and advertising"}, SightingsLastHour: 1234,
			Notification: note,
		},
		exposures: Exposures{Now: testNow, WindowDays: ExposureWindowDays, Days: days, PossibleSource: possible, Notification: note},
		contacts: ContactLog{
			Now: testNow, RetentionDays: 90, Sightings: 1_500_000,
			Oldest: testNow.AddDate(0, 0, -89), Newest: testNow.Add(-time.Minute), OldestErasedAt: testNow.AddDate(0, 0, 1),
			HourWindow: ContactLogHours, Hours: hours,
			RSSI: []RSSICount{{-95, 1000}, {-80, 40000}, {-72, 90000}, {-65, 50000}, {-50, 8000}, {RSSIUnknown, 300}},
		},
		harvester: Harvester{
			Now: testNow, Running: true, Adapter: Adapter{Name: "hci0", State: "scanning"},
			Kinds:       []FrameRate{{Kind: "pact", PerSecond: 12.5, Total: 90000}, {Kind: "findmy", PerSecond: 3.2, Total: 20000}},
			InvalidKeys: 3, MalformedFrames: 17,
		},
		settings: DefaultSettings,
		result:   ShareResult{Accepted: true, Answer: "accepted", Tuples: 480, Retry: false},
	}
}

func (b *testBackend) Status(context.Context) (Status, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.status, b.failAll
}

func (b *testBackend) Exposures(_ context.Context, day time.Time) (Exposures, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ex := b.exposures
	ex.Days = append([]DaySummary(nil), ex.Days...)
	ex.PossibleSource = append([]DaySummary(nil), ex.PossibleSource...)
	ex.TimelineDay = KeepTimeline(ex.Days, ex.PossibleSource, day)
	return ex, b.failAll
}

func (b *testBackend) ContactLog(context.Context) (ContactLog, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.contacts, b.failAll
}

func (b *testBackend) Harvester(context.Context) (Harvester, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.harvester, b.failAll
}

func (b *testBackend) SharePreview(_ context.Context, req ShareRequest) (SharePreview, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.previews = append(b.previews, req)
	if b.previewErr != nil {
		return SharePreview{}, b.previewErr
	}
	excluded := map[time.Time]bool{}
	for _, h := range req.ExcludeHours {
		excluded[h] = true
	}
	var p SharePreview
	start := testNow.Truncate(24*time.Hour).AddDate(0, 0, -2)
	for h := start; h.Before(testNow); h = h.Add(time.Hour) {
		if h.Hour() >= 1 && h.Hour() < 6 {
			continue // the device was off
		}
		p.Hours = append(p.Hours, ShareHour{Hour: h, Excluded: excluded[h]})
	}
	if req.FindMyKeyMaterial != "" {
		p.FindMyKeys = 96
	}
	if req.ReverseTracing {
		p.ReverseFrom, p.ReverseTo = req.ReverseFrom, req.ReverseTo
	}
	return p, b.failAll
}

func (b *testBackend) ShareSubmit(_ context.Context, req ShareRequest) (ShareResult, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.submits = append(b.submits, req)
	return b.result, b.failAll
}

func (b *testBackend) Settings(context.Context) (Settings, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.settings, b.failAll
}

func (b *testBackend) SaveSettings(_ context.Context, s Settings) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.failAll != nil {
		return b.failAll
	}
	if err := ValidateSettings(s, testNow); err != nil {
		return err
	}
	b.settings = s
	return nil
}

var errBackendDown = errors.New("backend down")
