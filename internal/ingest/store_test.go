package ingest

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/pact-findmy/pact-findmy/internal/devicedb"
	"github.com/pact-findmy/pact-findmy/pact"
)

// TestStoreRetention checks that the store of a live scan erases sightings
// past the retention period when it starts, and that a replay's store keeps
// an old capture's sightings.
func TestStoreRetention(t *testing.T) {
	now := pact.MinuteOf(time.Now())
	old := pact.Sighting{Chirp: pact.Chirp{1}, Minute: now - pact.DefaultRetention - 10, RSSI: -60, Source: pact.SourceFindMy}
	recent := pact.Sighting{Chirp: pact.Chirp{2}, Minute: now - 10, RSSI: -60, Source: pact.SourcePACT}
	for _, tc := range []struct {
		name   string
		expire bool
		want   int
	}{
		{"replay keeps an old capture", false, 2},
		{"live scan erases past retention", true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "contacts.db")
			db, err := devicedb.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := db.AddSightings(context.Background(), []pact.Sighting{old, recent}); err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			s := newStore(db, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err := s.start(tc.expire); err != nil {
				t.Fatal(err)
			}
			var got []pact.Sighting
			if err := db.Sightings(context.Background(), 0, ^pact.Minute(0), func(x pact.Sighting) error {
				got = append(got, x)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if err := s.close(); err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.want {
				t.Fatalf("%d sightings left, want %d: %+v", len(got), tc.want, got)
			}
			if tc.expire && got[0].Chirp != recent.Chirp {
				t.Fatalf("kept %x, want the recent sighting", got[0].Chirp)
			}
		})
	}
}
