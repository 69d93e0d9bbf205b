package web

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/pact-findmy/pact-findmy/internal/devicedb"
	"github.com/pact-findmy/pact-findmy/pact"
)

func openStats(t *testing.T, now time.Time) *DeviceStats {
	t.Helper()
	db, err := devicedb.Open(filepath.Join(t.TempDir(), "device.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &DeviceStats{DB: db, Now: func() time.Time { return now }}
}

func TestDeviceStatsExposures(t *testing.T) {
	ctx := context.Background()
	ds := openStats(t, testNow)
	at := func(day, hour, minute int) pact.Minute {
		return pact.Minute(testNow.Truncate(24*time.Hour).AddDate(0, 0, -day).Add(time.Duration(hour)*time.Hour+time.Duration(minute)*time.Minute).Unix() / 60)
	}
	var cs []pact.Contact
	add := func(heard pact.Minute, chirp, seed byte, rssi int8) {
		c := pact.Contact{Heard: heard, ChirpMinute: heard, RSSI: rssi, TxPower: pact.TxPowerUnknown, Source: pact.SourceFindMy}
		c.Chirp[0], c.Seed[0] = chirp, seed
		cs = append(cs, c)
	}
	add(at(2, 8, 0), 1, 'A', -50)
	add(at(2, 8, 1), 2, 'A', -65)
	add(at(2, 8, 1), 3, 'B', pact.RSSIUnknown)
	add(at(2, 9, 30), 4, 'B', -85)
	add(at(0, 7, 0), 5, 'C', -72)
	add(at(30, 7, 0), 6, 'D', -40) // outside the 21-day window
	if _, err := ds.DB.AddContacts(ctx, cs); err != nil {
		t.Fatal(err)
	}
	findMy := Match{Heard: at(1, 12, 0).Time(), Source: SourceFindMy, Contact: "key", RSSI: -61}
	ds.MoreMatches = []MatchReader{func(_ context.Context, from, to time.Time, fn func(Match) error) error {
		if findMy.Heard.Before(from) || findMy.Heard.After(to) {
			return nil
		}
		return fn(findMy)
	}}

	ex, err := ds.Exposures(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	var gotDays []string
	for _, d := range ex.Days {
		gotDays = append(gotDays, d.Day.Format(time.DateOnly)+" "+d.Source)
	}
	wantDays := []string{"2026-11-05 pact", "2026-11-04 findmy", "2026-11-03 pact"}
	if !reflect.DeepEqual(gotDays, wantDays) {
		t.Fatalf("days %v, want %v", gotDays, wantDays)
	}
	// The PACT figures equal pact.SummarizeContacts over the same rows.
	want := pact.SummarizeContacts(cs[:5], pact.ScoreOptions{})
	for _, w := range want {
		for _, g := range ex.Days {
			if g.Source == SourcePACT && g.Day.Equal(w.Date()) &&
				(g.MatchedMinutes != w.Minutes || g.Contacts != w.Contacts || g.MaxRSSI != int(w.MaxRSSI) || g.Score != w.Score || g.Peak24h != w.Peak24h) {
				t.Errorf("%s: %+v, pact.SummarizeContacts gives %+v", g.Day.Format(time.DateOnly), g, w)
			}
		}
	}
	// The timeline is the newest day's only, unless another is asked for.
	if !ex.TimelineDay.Equal(ex.Days[0].Day) || len(ex.Days[0].Timeline) != 1 || ex.Days[2].Timeline != nil {
		t.Errorf("default timeline day %v: timelines %v / %v", ex.TimelineDay, ex.Days[0].Timeline, ex.Days[2].Timeline)
	}
	ex, err = ds.Exposures(ctx, ex.Days[2].Day)
	if err != nil {
		t.Fatal(err)
	}
	wantTL := []MatchedMinute{
		{At: at(2, 8, 0).Time(), RSSI: -50, Contacts: 1},
		{At: at(2, 8, 1).Time(), RSSI: -65, Contacts: 2},
		{At: at(2, 9, 30).Time(), RSSI: -85, Contacts: 1},
	}
	if !reflect.DeepEqual(ex.Days[2].Timeline, wantTL) || ex.Days[0].Timeline != nil {
		t.Errorf("timeline of %v: %+v, want %+v", ex.TimelineDay, ex.Days[2].Timeline, wantTL)
	}

	st, err := ds.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Exposed || len(st.Days) != 3 || !st.Chirping {
		t.Errorf("status %+v", st)
	}

	// The notification threshold: the best rolling 24 hours hold A at
	// 08:00 (near, 1) and 08:01 (medium, 0.5) and B at 08:01 (unknown,
	// 0.5) two days ago; B at 09:30 is distant and weighs nothing.
	for _, tc := range []struct {
		name      string
		threshold float64
		reached   bool
	}{
		{"the default threshold is not reached", pact.DefaultNotifyThreshold, false},
		{"a threshold of 2 is reached", 2, true},
		{"a threshold of 2.25 is not", 2.25, false},
	} {
		s := DefaultSettings
		s.NotifyThreshold = tc.threshold
		if err := ds.SaveSettings(ctx, s); err != nil {
			t.Fatal(err)
		}
		st, err := ds.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := Notification{Threshold: tc.threshold, Peak24h: 2, PeakEnd: at(2, 8, 1).Time(), Reached: tc.reached}
		if st.Notification != want {
			t.Errorf("%s: notification %+v, want %+v", tc.name, st.Notification, want)
		}
	}
}

func TestDeviceStatsContactLogAndSettings(t *testing.T) {
	ctx := context.Background()
	ds := openStats(t, testNow)
	now := pact.Minute(testNow.Unix() / 60)
	var ss []pact.Sighting
	for i := range 10 {
		s := pact.Sighting{Minute: now - pact.Minute(i*30), RSSI: int8(-50 - i), Source: pact.SourcePACT}
		if i%3 == 0 {
			s.Source = pact.SourceFindMy
		}
		s.Chirp[0] = byte(i)
		ss = append(ss, s)
	}
	old := pact.Sighting{Minute: now - 30*pact.MinutesPerDay, RSSI: pact.RSSIUnknown, Source: pact.SourceRepeater}
	ss = append(ss, old)
	if err := ds.DB.AddSightings(ctx, ss); err != nil {
		t.Fatal(err)
	}
	cl, err := ds.ContactLog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cl.Sightings != 11 || !cl.Oldest.Equal(old.Minute.Time()) || !cl.OldestErasedAt.Equal(old.Minute.Time().AddDate(0, 0, 90)) {
		t.Errorf("contact log %d sightings, oldest %v erased %v", cl.Sightings, cl.Oldest, cl.OldestErasedAt)
	}
	var inWindow int64
	for _, h := range cl.Hours {
		for _, n := range h.BySource {
			inWindow += n
		}
	}
	if inWindow != 10 || len(cl.RSSI) != 11 {
		t.Errorf("%d sightings in the hour window, want 10; %d RSSI readings, want 11", inWindow, len(cl.RSSI))
	}
	last, err := ds.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if last.SightingsLastHour != 2 {
		t.Errorf("sightings in the last hour %d, want 2", last.SightingsLastHour)
	}

	// Settings: defaults, a save, a refused save that changes nothing, a
	// snooze that stops chirping.
	got, err := ds.Settings(ctx)
	if err != nil || !reflect.DeepEqual(got, DefaultSettings) {
		t.Fatalf("defaults %+v, %v", got, err)
	}
	if DefaultSettings.LogLocation || DefaultSettings.NotifyThreshold != pact.DefaultNotifyThreshold || DefaultSettings.RetentionDays != 90 {
		t.Fatalf("defaults %+v: want location logging off, the close-contact threshold and 90 days", DefaultSettings)
	}
	want := Settings{MinRSSI: -90, RetentionDays: 30, SnoozeUntil: testNow.Add(2 * time.Hour),
		Servers:        []Server{{Name: "eu", URL: "https://x.example", Key: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", Regions: []string{"eu"}}},
		RxCorrectionDB: 7, NotifyThreshold: 12.25, LogLocation: true}
	if err := ds.SaveSettings(ctx, want); err != nil {
		t.Fatal(err)
	}
	bad := want
	bad.RetentionDays = 0
	if err := ds.SaveSettings(ctx, bad); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("invalid save: err %v, want ErrInvalidInput", err)
	}
	if got, err := ds.Settings(ctx); err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("settings %+v (%v), want %+v", got, err, want)
	}
	if st, _ := ds.Status(ctx); st.Chirping || !st.SnoozedUntil.Equal(want.SnoozeUntil) {
		t.Errorf("snoozed status: chirping %v until %v", st.Chirping, st.SnoozedUntil)
	}
	// A stored value that does not parse is an error, not a default.
	if err := ds.DB.PutSettings(ctx, map[string]string{"retention_days": "many"}, testNow); err != nil {
		t.Fatal(err)
	}
	if _, err := ds.Settings(ctx); !errors.Is(err, ErrBadStoredSetting) {
		t.Errorf("unparsable stored setting: err %v, want ErrBadStoredSetting", err)
	}
}

// TestSummarizeAgreesWithPact checks Summarize, which every source goes
// through, against pact.SummarizeContacts on the spec's worked example
// (docs/matching.md §8.4).
func TestSummarizeAgreesWithPact(t *testing.T) {
	day := pact.Minute(20759 * pact.MinutesPerDay)
	var cs []pact.Contact
	for _, c := range []struct {
		heard pact.Minute
		seed  byte
		rssi  int8
	}{{8*60 + 5, 'A', -50}, {8*60 + 6, 'A', pact.RSSIUnknown}, {9*60 + 10, 'B', -72}, {9*60 + 10, 'B', -80}} {
		pc := pact.Contact{Heard: day + c.heard, RSSI: c.rssi, TxPower: pact.TxPowerUnknown, Source: pact.SourcePACT}
		pc.Seed[0] = c.seed
		pc.Chirp[0] = byte(len(cs))
		cs = append(cs, pc)
	}
	var ms []Match
	for _, c := range cs {
		ms = append(ms, Match{Heard: c.Heard.Time(), Source: SourcePACT, Contact: string(c.Seed[:]), RSSI: int(c.RSSI)})
	}
	got := Summarize(ms, pact.ScoreOptions{})
	want := pact.SummarizeContacts(cs, pact.ScoreOptions{})
	if len(got) != 1 || len(want) != 1 {
		t.Fatalf("%d and %d days", len(got), len(want))
	}
	g, w := got[0], want[0]
	if g.MatchedMinutes != w.Minutes || g.Contacts != w.Contacts || g.MaxRSSI != int(w.MaxRSSI) || g.Score != w.Score || g.Score != 1.75 || g.Peak24h != w.Peak24h {
		t.Errorf("Summarize %+v, pact %+v (spec: score 1.75)", g, w)
	}
}

// TestDeviceStatsIndirect checks that contacts heard from a repeater,
// native chirps and Find My keys, are reported apart as indirect contacts
// (spec §9.1.3): in Status.Indirect and Exposures.Indirect, never in Days,
// and they alone do not make the device exposed.
func TestDeviceStatsIndirect(t *testing.T) {
	ctx := context.Background()
	ds := openStats(t, testNow)
	heard := pact.MinuteOf(testNow) - 90
	c := pact.Contact{Heard: heard, ChirpMinute: heard - 7, RSSI: -66, TxPower: pact.TxPowerUnknown, Source: pact.SourceRepeater}
	c.Chirp[0], c.Seed[0] = 1, 'R'
	if _, err := ds.DB.AddContacts(ctx, []pact.Contact{c}); err != nil {
		t.Fatal(err)
	}
	key := Match{Heard: (heard + 3).Time(), Source: SourceFindMyRepeater, Contact: "key", RSSI: -70}
	ds.MoreMatches = []MatchReader{func(_ context.Context, from, to time.Time, fn func(Match) error) error {
		if key.Heard.Before(from) || key.Heard.After(to) {
			return nil
		}
		return fn(key)
	}}
	day := testNow.Truncate(24 * time.Hour)
	if heard.Time().Before(day) {
		day = day.AddDate(0, 0, -1)
	}
	want := []DaySummary{
		{Day: day, Source: SourceRepeater, MatchedMinutes: 1, Contacts: 1, MaxRSSI: -66, Score: pact.WeightMedium, Peak24h: pact.WeightMedium},
		{Day: day, Source: SourceFindMyRepeater, MatchedMinutes: 1, Contacts: 1, MaxRSSI: -70, Score: pact.WeightMedium, Peak24h: pact.WeightMedium},
	}
	ex, err := ds.Exposures(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ex.Days) != 0 || !ex.TimelineDay.IsZero() {
		t.Errorf("exposures days %+v, timeline day %v; want none: the only contacts are indirect", ex.Days, ex.TimelineDay)
	}
	if !reflect.DeepEqual(ex.Indirect, want) {
		t.Errorf("indirect %+v, want %+v", ex.Indirect, want)
	}
	if ex.Notification.Peak24h != 0 || ex.Notification.Reached {
		t.Errorf("notification %+v: indirect contacts count toward the threshold", ex.Notification)
	}
	st, err := ds.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Exposed || len(st.Days) != 0 || !reflect.DeepEqual(st.Indirect, want) {
		t.Errorf("status exposed %v, days %+v, indirect %+v; want not exposed, no days, indirect %+v", st.Exposed, st.Days, st.Indirect, want)
	}
}
