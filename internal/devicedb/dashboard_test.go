package devicedb

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/pact-findmy/pact-findmy/pact"
)

// checkAggregates compares the trigger-maintained counts with a GROUP BY
// over the contact log itself.
func checkAggregates(t *testing.T, db *DB) {
	t.Helper()
	ctx := context.Background()
	got, err := db.SightingsPerHour(ctx, 0, pact.Minute(^uint32(0)))
	if err != nil {
		t.Fatal(err)
	}
	var want []HourCount
	rows, err := db.SQL().QueryContext(ctx, `SELECT minute / 60, source, count(*) FROM contacts GROUP BY 1, 2 ORDER BY 1, 2`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var h HourCount
		var hour int64
		if err := rows.Scan(&hour, &h.Source, &h.Sightings); err != nil {
			t.Fatal(err)
		}
		h.Hour = pact.Minute(hour * 60)
		want = append(want, h)
	}
	rows.Close()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("SightingsPerHour = %v, GROUP BY gives %v", got, want)
	}
	hist, err := db.RSSIHistogram(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var wantHist []RSSICount
	rows, err = db.SQL().QueryContext(ctx, `SELECT rssi, count(*) FROM contacts GROUP BY 1 ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var c RSSICount
		if err := rows.Scan(&c.RSSI, &c.Sightings); err != nil {
			t.Fatal(err)
		}
		wantHist = append(wantHist, c)
	}
	rows.Close()
	if !reflect.DeepEqual(hist, wantHist) {
		t.Errorf("RSSIHistogram = %v, GROUP BY gives %v", hist, wantHist)
	}
	// Emptied rows are removed, not left at zero.
	var zeros int
	if err := db.SQL().QueryRowContext(ctx, `SELECT (SELECT count(*) FROM contact_hour_counts WHERE sightings = 0) +
		(SELECT count(*) FROM contact_rssi_counts WHERE sightings = 0)`).Scan(&zeros); err != nil {
		t.Fatal(err)
	}
	if zeros != 0 {
		t.Errorf("%d aggregate rows at zero", zeros)
	}
}

func TestDashboardAggregatesFollowContacts(t *testing.T) {
	ctx := context.Background()
	db, _ := openTemp(t)
	const base = pact.Minute(29_462_400) // 2026-01-07T00:00Z
	steps := []struct {
		name string
		run  func() error
	}{
		{"insert", func() error {
			return db.AddSightings(ctx, []pact.Sighting{
				{Chirp: chirpN(1), Minute: base, RSSI: -70, Source: pact.SourcePACT},
				{Chirp: chirpN(2), Minute: base + 1, RSSI: -50, Source: pact.SourceFindMy},
				{Chirp: chirpN(3), Minute: base + 61, RSSI: pact.RSSIUnknown, Source: pact.SourcePACT},
				{Chirp: chirpN(4), Minute: base + 125, RSSI: -90, Source: pact.SourceRepeater},
			})
		}},
		{"merge raises rssi", func() error {
			return db.AddSightings(ctx, []pact.Sighting{
				{Chirp: chirpN(1), Minute: base, RSSI: -60, Source: pact.SourcePACT},
				{Chirp: chirpN(3), Minute: base + 61, RSSI: -40, Source: pact.SourcePACT},
			})
		}},
		{"merge keeps rssi", func() error {
			return db.AddSightings(ctx, []pact.Sighting{
				{Chirp: chirpN(2), Minute: base + 1, RSSI: -80, Source: pact.SourceFindMy},
				{Chirp: chirpN(1), Minute: base, RSSI: pact.RSSIUnknown, Source: pact.SourcePACT},
			})
		}},
		{"retention erases the first hour", func() error {
			_, err := db.DeleteSightingsBefore(ctx, base+60)
			return err
		}},
		{"erase everything", func() error {
			_, err := db.DeleteSightingsBefore(ctx, base+1000)
			return err
		}},
	}
	for _, s := range steps {
		if err := s.run(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		checkAggregates(t, db)
		if t.Failed() {
			t.Fatalf("after %s", s.name)
		}
	}
}

func TestDashboardBackfillsExistingLog(t *testing.T) {
	// A database created before migration 0005 gets counts for the log it
	// already holds: drop the aggregate rows and re-run the backfill the
	// migration runs.
	ctx := context.Background()
	db, _ := openTemp(t)
	if err := db.AddSightings(ctx, []pact.Sighting{
		{Chirp: chirpN(1), Minute: 100, RSSI: -70, Source: pact.SourcePACT},
		{Chirp: chirpN(2), Minute: 200, RSSI: -70, Source: pact.SourceFindMy},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.SQL().ExecContext(ctx, `DELETE FROM contact_hour_counts; DELETE FROM contact_rssi_counts;
		INSERT INTO contact_hour_counts (hour, source, sightings) SELECT minute / 60, source, count(*) FROM contacts GROUP BY minute / 60, source;
		INSERT INTO contact_rssi_counts (rssi, sightings) SELECT rssi, count(*) FROM contacts GROUP BY rssi;`); err != nil {
		t.Fatal(err)
	}
	checkAggregates(t, db)
}

func TestContactLogExtent(t *testing.T) {
	ctx := context.Background()
	db, _ := openTemp(t)
	ext, err := db.ContactLogExtent(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ext != (LogExtent{}) {
		t.Errorf("empty log: extent %+v", ext)
	}
	if err := db.AddSightings(ctx, []pact.Sighting{
		{Chirp: chirpN(1), Minute: 500, RSSI: -70, Source: pact.SourcePACT},
		{Chirp: chirpN(2), Minute: 100, RSSI: -70, Source: pact.SourceFindMy},
		{Chirp: chirpN(3), Minute: 300, RSSI: -70, Source: pact.SourceFindMy},
	}); err != nil {
		t.Fatal(err)
	}
	ext, err = db.ContactLogExtent(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := (LogExtent{Sightings: 3, Oldest: 100, Newest: 500}); ext != want {
		t.Errorf("extent %+v, want %+v", ext, want)
	}
	n, err := db.CountSightings(ctx, 100, 300)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("CountSightings(100, 300) = %d, want 2", n)
	}
}

func TestSettings(t *testing.T) {
	ctx := context.Background()
	db, path := openTemp(t)
	if _, err := db.Setting(ctx, "min_rssi"); !errors.Is(err, ErrNoSetting) {
		t.Fatalf("unset key: err %v, want ErrNoSetting", err)
	}
	now := time.Unix(1_800_000_000, 0)
	if err := db.PutSettings(ctx, map[string]string{"min_rssi": "-90", "retention_days": "21"}, now); err != nil {
		t.Fatal(err)
	}
	if err := db.PutSettings(ctx, map[string]string{"min_rssi": "-80"}, now); err != nil {
		t.Fatal(err)
	}
	// A batch with a bad key stores nothing of it.
	if err := db.PutSettings(ctx, map[string]string{"retention_days": "30", "": "x"}, now); err == nil {
		t.Fatal("empty key accepted")
	}
	if err := db.DeleteSetting(ctx, "nothing"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	got, err := db.Settings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"min_rssi": "-80", "retention_days": "21"}; !reflect.DeepEqual(got, want) {
		t.Errorf("settings after reopen %v, want %v", got, want)
	}
}

// TestExposureDaysAgreesWithSummarizeContacts checks the stored summary
// against pact.SummarizeContacts on the same contacts, including unknown
// readings, a seed heard twice in a minute, known TX powers and a
// receiver correction.
func TestExposureDaysAgreesWithSummarizeContacts(t *testing.T) {
	ctx := context.Background()
	db, _ := openTemp(t)
	const day0 = pact.Minute(20759 * pact.MinutesPerDay)
	seed := func(n byte) pact.Seed {
		var s pact.Seed
		s[0] = n
		return s
	}
	var cs []pact.Contact
	add := func(heard pact.Minute, chirp byte, s byte, rssi int8, tx ...int8) {
		c := pact.Contact{Heard: heard, ChirpMinute: heard, Chirp: chirpN(chirp), Seed: seed(s), RSSI: rssi, TxPower: pact.TxPowerUnknown, Source: pact.SourcePACT}
		if len(tx) > 0 {
			c.TxPower = tx[0]
		}
		cs = append(cs, c)
	}
	add(day0+8*60+5, 1, 'A', -50)
	add(day0+8*60+6, 2, 'A', pact.RSSIUnknown)
	add(day0+9*60+10, 3, 'B', -72)
	add(day0+9*60+10, 4, 'B', -80)              // same seed and minute: the stronger counts
	add(day0+9*60+11, 5, 'C', pact.RSSIUnknown) // only unknown
	add(day0+9*60+11, 6, 'C', pact.RSSIUnknown)
	add(day0+pact.MinutesPerDay+60, 7, 'D', -95)
	add(day0+pact.MinutesPerDay+61, 8, 'D', -61)
	add(day0+pact.MinutesPerDay+62, 9, 'E', -70)
	add(day0+pact.MinutesPerDay+62, 10, 'F', -60, 8) // a loud sender: far, not near
	add(day0+pact.MinutesPerDay+64, 11, 'F', -75, -20)
	opts := pact.ScoreOptions{RxCorrection: 3}
	if _, err := db.AddContacts(ctx, cs); err != nil {
		t.Fatal(err)
	}
	got, err := db.ExposureDays(ctx, 0, day0+10*pact.MinutesPerDay, opts)
	if err != nil {
		t.Fatal(err)
	}
	want := pact.SummarizeContacts(cs, opts)
	if len(got) != len(want) {
		t.Fatalf("%d days, want %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[len(got)-1-i] // ExposureDays is newest first
		if g.Day != w.Day || g.Minutes != w.Minutes || g.Contacts != w.Contacts || g.MaxRSSI != w.MaxRSSI ||
			g.Score != w.Score || g.Peak24h != w.Peak24h || g.PeakEnd != w.PeakEnd {
			t.Errorf("day %d: got %+v, want %+v", w.Day, g, w)
		}
	}
}
