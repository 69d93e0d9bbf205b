package web

import (
	"context"
	"testing"

	"github.com/pact-findmy/pact-findmy/pact"
)

// TestContactLogHiddenMode: the contact log page's data says the log is
// hidden, counts sealed sightings per hour under "sealed", and has no RSSI
// histogram for them (spec §9.3.5).
func TestContactLogHiddenMode(t *testing.T) {
	ctx := context.Background()
	ds := openStats(t, testNow)
	cl, err := ds.ContactLog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cl.Mode != "plain" {
		t.Errorf("new log: mode %q, want plain", cl.Mode)
	}
	if _, err := ds.DB.HideContactLog(ctx, testNow); err != nil {
		t.Fatal(err)
	}
	now := pact.MinuteOf(testNow)
	var log []pact.Sighting
	for i := range 3 {
		s := pact.Sighting{Minute: now - pact.Minute(i), RSSI: -60, Source: pact.SourceFindMy}
		s.Chirp[0] = byte(i + 1)
		log = append(log, s)
	}
	if err := ds.DB.AddSightings(ctx, log); err != nil {
		t.Fatal(err)
	}
	cl, err = ds.ContactLog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var sealed int64
	for _, h := range cl.Hours {
		sealed += h.BySource["sealed"]
		if h.BySource[string(pact.SourceFindMy)] != 0 {
			t.Errorf("hour %v shows a source of a sealed sighting: %v", h.Hour, h.BySource)
		}
	}
	if cl.Mode != "hidden" || cl.Sightings != 3 || sealed != 3 || len(cl.RSSI) != 0 {
		t.Errorf("hidden log: mode %q, %d sightings, %d sealed per hour, histogram %v; want hidden, 3, 3, none", cl.Mode, cl.Sightings, sealed, cl.RSSI)
	}
}
