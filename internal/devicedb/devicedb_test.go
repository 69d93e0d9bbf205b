package devicedb

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/pact-findmy/pact-findmy/pact"
)

func openTemp(t *testing.T) (*DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "device.db")
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, path
}

func loadJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func chirpN(n byte) pact.Chirp {
	var c pact.Chirp
	for i := range c {
		c[i] = n
	}
	return c
}

type mergeCase struct {
	Name     string          `json:"name"`
	Batches  [][]sightingRow `json:"batches"`
	Want     []sightingRow   `json:"want"`
	WantFail bool            `json:"want_fail"`
}

type sightingRow struct {
	Chirp  byte     `json:"chirp"`
	Minute uint32   `json:"minute"`
	RSSI   int8     `json:"rssi"`
	Source string   `json:"source"`
	Lat    *float64 `json:"lat,omitempty"`
	Lon    *float64 `json:"lon,omitempty"`
	// TxPower is absent for pact.TxPowerUnknown.
	TxPower *int8 `json:"tx_power,omitempty"`
}

func (r sightingRow) sighting() pact.Sighting {
	s := pact.Sighting{Chirp: chirpN(r.Chirp), Minute: pact.Minute(r.Minute), RSSI: r.RSSI, TxPower: pact.TxPowerUnknown, Source: pact.Source(r.Source)}
	if r.TxPower != nil {
		s.TxPower = *r.TxPower
	}
	if r.Lat != nil {
		s.Location = &pact.Location{Lat: *r.Lat, Lon: *r.Lon}
	}
	return s
}

func TestAddSightingsMerges(t *testing.T) {
	var cases []mergeCase
	loadJSON(t, "testdata/merge.json", &cases)
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			db, _ := openTemp(t)
			ctx := context.Background()
			failed := false
			for _, batch := range tc.Batches {
				var ss []pact.Sighting
				for _, r := range batch {
					ss = append(ss, r.sighting())
				}
				if err := db.AddSightings(ctx, ss); err != nil {
					failed = true
				}
			}
			if failed != tc.WantFail {
				t.Fatalf("failed = %v, want %v", failed, tc.WantFail)
			}
			var got []pact.Sighting
			if err := db.Sightings(ctx, 0, ^pact.Minute(0), func(s pact.Sighting) error { got = append(got, s); return nil }); err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.Want) {
				t.Fatalf("got %d sightings %+v, want %d", len(got), got, len(tc.Want))
			}
			for i, w := range tc.Want {
				ws := w.sighting()
				g := got[i]
				if g.Chirp != ws.Chirp || g.Minute != ws.Minute || g.RSSI != ws.RSSI || g.TxPower != ws.TxPower || g.Source != ws.Source ||
					(g.Location == nil) != (ws.Location == nil) || (g.Location != nil && *g.Location != *ws.Location) {
					t.Errorf("sighting %d = %+v, want %+v", i, g, ws)
				}
			}
		})
	}
}

func TestBulkInsertSpansChunks(t *testing.T) {
	db, _ := openTemp(t)
	ctx := context.Background()
	const n = 3*rowsPerInsert + 17
	var ss []pact.Sighting
	for i := range n {
		ss = append(ss, pact.Sighting{Chirp: chirpN(byte(i)), Minute: pact.Minute(1000 + i/256), RSSI: -50, Source: pact.SourcePACT})
	}
	if err := db.AddSightings(ctx, ss); err != nil {
		t.Fatal(err)
	}
	count := 0
	if err := db.Sightings(ctx, 0, 1<<31, func(pact.Sighting) error { count++; return nil }); err != nil {
		t.Fatal(err)
	}
	if count != n {
		t.Fatalf("stored %d sightings, want %d", count, n)
	}
}

func TestSeedLogStore(t *testing.T) {
	db, _ := openTemp(t)
	ctx := context.Background()
	first := pact.SeedRecord{Seed: pact.Seed{1}, Start: 600 + 7}
	kept, err := db.PutSeed(ctx, first)
	if err != nil || kept != first {
		t.Fatalf("PutSeed = %v, %v; want %v", kept, err, first)
	}
	// A second seed for the same hour must not replace the first: chirps
	// already sent with it would become unuploadable.
	kept, err = db.PutSeed(ctx, pact.SeedRecord{Seed: pact.Seed{2}, Start: 600 + 30})
	if err != nil || kept != first {
		t.Fatalf("second PutSeed for hour 600 = %v, %v; want the first %v", kept, err, first)
	}
	if _, err := db.PutSeed(ctx, pact.SeedRecord{Seed: pact.Seed{3}, Start: 660}); err != nil {
		t.Fatal(err)
	}
	var hours []pact.Minute
	if err := db.Seeds(ctx, 0, 10000, func(r pact.SeedRecord) error { hours = append(hours, r.Hour()); return nil }); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(hours) != fmt.Sprint([]pact.Minute{600, 660}) {
		t.Fatalf("hours = %v", hours)
	}
}

// TestRetentionErasesBytes checks that erased seeds and chirps are gone from
// every file of the database, not just unreachable (spec §5.3).
func TestRetentionErasesBytes(t *testing.T) {
	db, path := openTemp(t)
	ctx := context.Background()
	oldSeed := pact.Seed{0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08}
	oldChirp := pact.Chirp{0xfe, 0xed, 0xfa, 0xce, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88}
	newSeed := pact.Seed{0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42}
	if _, err := db.PutSeed(ctx, pact.SeedRecord{Seed: oldSeed, Start: 60}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.PutSeed(ctx, pact.SeedRecord{Seed: newSeed, Start: 6000}); err != nil {
		t.Fatal(err)
	}
	if err := db.AddSightings(ctx, []pact.Sighting{
		{Chirp: oldChirp, Minute: 61, RSSI: -40, Source: pact.SourceFindMy},
		{Chirp: chirpN(9), Minute: 6001, RSSI: -40, Source: pact.SourcePACT},
	}); err != nil {
		t.Fatal(err)
	}
	if n, err := db.DeleteSeedsBefore(ctx, 6000); err != nil || n != 1 {
		t.Fatalf("DeleteSeedsBefore = %d, %v; want 1", n, err)
	}
	if n, err := db.DeleteSightingsBefore(ctx, 6000); err != nil || n != 1 {
		t.Fatalf("DeleteSightingsBefore = %d, %v; want 1", n, err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(path + "*")
	if err != nil || len(files) == 0 {
		t.Fatalf("database files %v, %v", files, err)
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(raw, oldSeed[:12]) || bytes.Contains(raw, oldChirp[:12]) {
			t.Errorf("%s still holds an erased seed or chirp", f)
		}
	}
	db2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	var left []pact.SeedRecord
	if err := db2.Seeds(ctx, 0, 1<<31, func(r pact.SeedRecord) error { left = append(left, r); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(left) != 1 || left[0].Seed != newSeed {
		t.Fatalf("seeds after retention = %v, want only the new one", left)
	}
}

// TestCrashKeepsAcknowledgedWrites kills a writer process with SIGKILL in
// the middle of a stream of batches and checks that every batch it
// acknowledged is stored whole, and no batch is stored in part.
func TestCrashKeepsAcknowledgedWrites(t *testing.T) {
	if os.Getenv("DEVICEDB_CRASH_WRITER") != "" {
		crashWriter(os.Getenv("DEVICEDB_CRASH_WRITER"))
		return
	}
	path := filepath.Join(t.TempDir(), "crash.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashKeepsAcknowledgedWrites$")
	cmd.Env = append(os.Environ(), "DEVICEDB_CRASH_WRITER="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := -1
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if n, err := strconv.Atoi(sc.Text()); err == nil {
			acked = n
			if acked >= 20 {
				break
			}
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	if acked < 20 {
		t.Fatalf("writer acknowledged only %d batches before dying", acked)
	}
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	perMinute := map[pact.Minute]int{}
	if err := db.Sightings(context.Background(), 0, 1<<31, func(s pact.Sighting) error { perMinute[s.Minute]++; return nil }); err != nil {
		t.Fatal(err)
	}
	for b := 0; b <= acked; b++ {
		if perMinute[pact.Minute(b)] != crashBatchSize {
			t.Errorf("acknowledged batch %d has %d of %d rows", b, perMinute[pact.Minute(b)], crashBatchSize)
		}
	}
	for m, n := range perMinute {
		if n != crashBatchSize {
			t.Errorf("batch %d is stored in part: %d of %d rows", m, n, crashBatchSize)
		}
	}
}

const crashBatchSize = 500

func crashWriter(path string) {
	db, err := Open(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for b := 0; ; b++ {
		batch := make([]pact.Sighting, crashBatchSize)
		for i := range batch {
			batch[i] = pact.Sighting{Minute: pact.Minute(b), RSSI: -60, Source: pact.SourcePACT}
			batch[i].Chirp[0], batch[i].Chirp[1] = byte(i), byte(i>>8)
		}
		if err := db.AddSightings(context.Background(), batch); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println(b)
	}
}

// TestRetentionErasesMatchResults checks that a match result past the
// horizon is erased from every file even when no sighting is: results can
// outlive the sighting they came from, for example after a manual delete.
func TestRetentionErasesMatchResults(t *testing.T) {
	db, path := openTemp(t)
	ctx := context.Background()
	oldSeed := pact.Seed{0x5e, 0xed, 0x0f, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x01, 0x02, 0x03, 0x04}
	if _, err := db.AddContacts(ctx, []pact.Contact{{Heard: 61, ChirpMinute: 61, Chirp: chirpN(3), Seed: oldSeed, RSSI: -60, Source: pact.SourcePACT}}); err != nil {
		t.Fatal(err)
	}
	if n, err := db.DeleteSightingsBefore(ctx, 6000); err != nil || n != 0 {
		t.Fatalf("DeleteSightingsBefore = %d, %v; want 0 sightings", n, err)
	}
	// Read the files while the database is open: Close would checkpoint
	// and hide a WAL that still holds the erased row.
	files, err := filepath.Glob(path + "*")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(raw, oldSeed[:12]) {
			t.Errorf("%s still holds the seed of an erased match result", f)
		}
	}
	left := 0
	if err := db.Contacts(ctx, 0, ^pact.Minute(0), func(pact.Contact) error { left++; return nil }); err != nil || left != 0 {
		t.Fatalf("%d match results left, %v", left, err)
	}
}

// TestReadRejectsMalformedRows writes rows the schema accepts but no
// program of this module writes, and checks that reading them fails with
// the column and value at fault and leaves the rows in place. (A row whose
// own minute is out of range is never selected by a range of minutes, so
// only the other columns can be tested this way.)
func TestReadRejectsMalformedRows(t *testing.T) {
	cases := []struct {
		name, read, insert string
		row, column        string
		value              int64
	}{
		{"seed before minute zero", "seeds", "INSERT INTO seeds (hour, start, seed) VALUES (0, -1, zeroblob(32))", "seed", "start", -1},
		{"seed past the last minute", "seeds", "INSERT INTO seeds (hour, start, seed) VALUES (0, 4294967296, zeroblob(32))", "seed", "start", 4294967296},
		{"seed drawn outside its hour", "seeds", "INSERT INTO seeds (hour, start, seed) VALUES (600, 660, zeroblob(32))", "seed", "start", 660},
		{"match result for a chirp minute past the last", "contacts", "INSERT INTO exposure_contacts (heard, chirp, seed, chirp_minute, rssi, source) VALUES (10, zeroblob(28), zeroblob(32), 4294967297, -50, 'pact')", "contact", "chirp_minute", 4294967297},
		{"match result for a chirp minute before zero", "contacts", "INSERT INTO exposure_contacts (heard, chirp, seed, chirp_minute, rssi, source) VALUES (10, zeroblob(28), zeroblob(32), -1, -50, 'pact')", "contact", "chirp_minute", -1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			db, _ := openTemp(t)
			ctx := context.Background()
			if _, err := db.SQL().ExecContext(ctx, tc.insert); err != nil {
				t.Fatal(err)
			}
			var (
				table string
				err   error
			)
			switch tc.read {
			case "seeds":
				table = "seeds"
				err = db.Seeds(ctx, 0, ^pact.Minute(0), func(pact.SeedRecord) error { return nil })
			case "contacts":
				table = "exposure_contacts"
				err = db.Contacts(ctx, 0, ^pact.Minute(0), func(pact.Contact) error { return nil })
			default:
				t.Fatalf("unknown read %q", tc.read)
			}
			var re *RowError
			if !errors.Is(err, ErrBadRow) || !errors.As(err, &re) {
				t.Fatalf("error = %v, want a *RowError wrapping ErrBadRow", err)
			}
			if re.Row != tc.row || re.Column != tc.column || re.Value != tc.value {
				t.Fatalf("error names %s.%s = %d, want %s.%s = %d", re.Row, re.Column, re.Value, tc.row, tc.column, tc.value)
			}
			var rows int
			if err := db.SQL().QueryRowContext(ctx, "SELECT count(*) FROM "+table).Scan(&rows); err != nil || rows != 1 {
				t.Fatalf("%s holds %d rows after the failed read, %v; want the row untouched", table, rows, err)
			}
		})
	}
}

// TestOpenOddPath checks that characters with a meaning in SQLite URIs
// stay part of the file name.
func TestOpenOddPath(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "dev?ice#1%41.db")
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.PutSeed(context.Background(), pact.SeedRecord{Seed: pact.Seed{1}, Start: 60}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) != 1 || names[0] != filepath.Base(path) {
		t.Fatalf("files %q, want only %q", names, filepath.Base(path))
	}
}

// TestOpenPathIsAFile checks that SQLite URI meanings do not survive in a
// path: ":memory:" is a file in the working directory that keeps its data,
// and "//localhost/x" names /localhost/x, not /x.
func TestOpenPathIsAFile(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	ctx := context.Background()
	db, err := Open(":memory:")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.PutSeed(ctx, pact.SeedRecord{Seed: pact.Seed{1}, Start: 60}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(":memory:")
	if err != nil {
		t.Fatal(err)
	}
	seeds := 0
	err = db.Seeds(ctx, 0, 120, func(pact.SeedRecord) error { seeds++; return nil })
	db.Close()
	if err != nil || seeds != 1 {
		t.Errorf(`reopening ":memory:": %d seeds, %v; want the one stored`, seeds, err)
	}
	if _, err := os.Stat(filepath.Join(dir, ":memory:")); err != nil {
		t.Errorf(`opening ":memory:" left no file of that name: %v`, err)
	}
	authority := "//localhost" + filepath.Join(dir, "x.db")
	if db, err := Open(authority); err == nil {
		db.Close()
		t.Errorf("Open(%q) succeeded, want an error: /localhost does not exist", authority)
	}
	if _, err := os.Stat(filepath.Join(dir, "x.db")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Open(%q) touched %s: %v", authority, filepath.Join(dir, "x.db"), err)
	}
}

// TestOpenCreatesPrivateFiles opens a database in an existing directory
// under a umask that allows everyone to read: the file and its -wal and
// -shm must still be 0600, since they hold the contact log.
func TestOpenCreatesPrivateFiles(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	path := filepath.Join(t.TempDir(), "device.db")
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.PutSeed(context.Background(), pact.SeedRecord{Seed: pact.Seed{1}, Start: 60}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", p, st.Mode().Perm())
		}
	}
}
