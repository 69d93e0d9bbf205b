package devicedb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pact-findmy/pact-findmy/internal/migrate"
	"github.com/pact-findmy/pact-findmy/pact"
)

// oldDevicedbFile writes a device database as devicedb wrote it before
// schema_migrations: the migrations up to version applied with their
// version in PRAGMA user_version, and rows in the tables they created.
// The schema SQL is that of the migration files, which never change once
// released.
func oldDevicedbFile(t *testing.T, version int) string {
	t.Helper()
	ms, err := migrate.Load(migrationFiles, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := sql.Open("sqlite3", "file:"+path+"?_journal_mode=WAL")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, m := range ms {
		if m.Version > version {
			break
		}
		if _, err := db.Exec(m.SQL); err != nil {
			t.Fatalf("old schema %s: %v", m.Name, err)
		}
	}
	stmts := []string{
		fmt.Sprintf("PRAGMA user_version = %d", version),
		"INSERT INTO seeds (hour, start, seed) VALUES (600, 612, x'" + strings.Repeat("11", 32) + "')",
		"INSERT INTO contacts (minute, chirp, rssi, source, lat, lon) VALUES (612, x'" + strings.Repeat("22", 28) + "', -61, 'pact', 46.5, 6.6)",
	}
	if version >= 2 {
		stmts = append(stmts, "INSERT INTO exposure_contacts (heard, chirp, seed, chirp_minute, rssi, source) VALUES (612, x'"+strings.Repeat("22", 28)+"', x'"+strings.Repeat("11", 32)+"', 612, -61, 'pact')")
	}
	for _, q := range stmts {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return path
}

// TestOpenUpgradesUserVersionFile opens files of the PRAGMA user_version
// era at each version they could be at: every row is still there, the
// versions move to schema_migrations, and the migrations after the old
// version run.
func TestOpenUpgradesUserVersionFile(t *testing.T) {
	ms, err := migrate.Load(migrationFiles, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	for _, old := range []int{1, 2} {
		t.Run(fmt.Sprintf("user_version %d", old), func(t *testing.T) {
			path := oldDevicedbFile(t, old)
			db, err := Open(path)
			if err != nil {
				t.Fatalf("opening the old file: %v", err)
			}
			defer db.Close()
			ctx := context.Background()
			var seeds []pact.SeedRecord
			if err := db.Seeds(ctx, 0, ^pact.Minute(0), func(r pact.SeedRecord) error { seeds = append(seeds, r); return nil }); err != nil {
				t.Fatal(err)
			}
			if len(seeds) != 1 || seeds[0].Start != 612 || seeds[0].Seed[0] != 0x11 {
				t.Errorf("seeds after the upgrade = %+v, want the one at minute 612", seeds)
			}
			var sightings []pact.Sighting
			if err := db.Sightings(ctx, 0, ^pact.Minute(0), func(s pact.Sighting) error { sightings = append(sightings, s); return nil }); err != nil {
				t.Fatal(err)
			}
			if len(sightings) != 1 || sightings[0].RSSI != -61 || sightings[0].Location == nil || sightings[0].Location.Lat != 46.5 ||
				sightings[0].TxPower != pact.TxPowerUnknown {
				t.Errorf("sightings after the upgrade = %+v, want the one at minute 612 with its location and unknown TX power", sightings)
			}
			var contacts int
			if err := db.Contacts(ctx, 0, ^pact.Minute(0), func(c pact.Contact) error {
				if c.TxPower != pact.TxPowerUnknown {
					t.Errorf("match result stored before migration 0008 reads TX power %d, want unknown", c.TxPower)
				}
				contacts++
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if want := map[int]int{1: 0, 2: 1}[old]; contacts != want {
				t.Errorf("%d match results after the upgrade, want %d", contacts, want)
			}
			rows, err := db.SQL().QueryContext(ctx, "SELECT version FROM schema_migrations ORDER BY version")
			if err != nil {
				t.Fatal(err)
			}
			var got []int
			for rows.Next() {
				var v int
				if err := rows.Scan(&v); err != nil {
					t.Fatal(err)
				}
				got = append(got, v)
			}
			rows.Close()
			var want []int
			for _, m := range ms {
				want = append(want, m.Version)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("schema_migrations = %v, want %v", got, want)
			}
			var uv int
			if err := db.SQL().QueryRowContext(ctx, "PRAGMA user_version").Scan(&uv); err != nil || uv != userVersionRetired {
				t.Errorf("user_version = %d, %v; want %d so that older programs refuse the file", uv, err, userVersionRetired)
			}
		})
	}
}

// TestOpenRefusesNewerFile checks both directions of a version mismatch:
// a user_version newer than this program's migrations, and a
// schema_migrations row newer than them, are refused and change nothing.
func TestOpenRefusesNewerFile(t *testing.T) {
	ms, err := migrate.Load(migrationFiles, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	newest := ms[len(ms)-1].Version
	t.Run("user_version", func(t *testing.T) {
		path := oldDevicedbFile(t, 2)
		raw, err := sql.Open("sqlite3", "file:"+path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := raw.Exec(fmt.Sprintf("PRAGMA user_version = %d", newest+1)); err != nil {
			t.Fatal(err)
		}
		raw.Close()
		_, err = Open(path)
		var ve *migrate.VersionError
		if !errors.Is(err, migrate.ErrNewerSchema) || !errors.As(err, &ve) || ve.Database != newest+1 || ve.Program != newest {
			t.Fatalf("Open = %v, want a *migrate.VersionError{%d, %d}", err, newest+1, newest)
		}
	})
	t.Run("schema_migrations", func(t *testing.T) {
		db, path := openTemp(t)
		if _, err := db.SQL().Exec(fmt.Sprintf("INSERT INTO schema_migrations (version) VALUES (%d)", newest+1)); err != nil {
			t.Fatal(err)
		}
		db.Close()
		_, err := Open(path)
		var ve *migrate.VersionError
		if !errors.As(err, &ve) || ve.Database != newest+1 || ve.Program != newest {
			t.Fatalf("Open = %v, want a *migrate.VersionError{%d, %d}", err, newest+1, newest)
		}
	})
}
