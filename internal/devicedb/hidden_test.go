package devicedb

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/pact-findmy/pact-findmy/pact"
)

var hideTime = time.Unix(1_800_000_000, 0)

// exposureLog builds sightings of three seeds' chirps over two hours and
// the tuples that uploaded them, with repeats that merge, TX powers and
// locations, and copies heard ten minutes late: from a repeater (an
// indirect contact, spec §9.1.3), directly (no contact), or both in one
// minute (merged to direct: no contact).
func exposureLog() ([]pact.Sighting, []pact.Tuple) {
	const start = pact.Minute(29_462_400)
	var log []pact.Sighting
	var tuples []pact.Tuple
	for i, seed := range []pact.Seed{{1}, {2}, {3}} {
		tuples = append(tuples, pact.Tuple{Seed: seed, Start: start, End: start + 59})
		for m := start + pact.Minute(i); m < start+60; m += 7 {
			s := pact.Sighting{Chirp: pact.ChirpAt(&seed, m), Minute: m, RSSI: int8(-50 - i*10), TxPower: int8(-4 - 4*i), Source: pact.SourcePACT}
			if m%2 == 0 {
				s.Location = &pact.Location{Lat: 52.52, Lon: 13.4}
			}
			log = append(log, s)
			// Heard again a minute later (tolerance) and again in the same
			// minute, stronger: a merge.
			late := s
			late.Minute++
			strong := s
			strong.RSSI += 5
			strong.TxPower = pact.TxPowerUnknown
			strong.Location = nil
			log = append(log, late, strong)
			repeated := s
			repeated.Minute += 10
			repeated.Source, repeated.TxPower = pact.SourceRepeater, -12
			direct := repeated
			direct.Source = pact.SourcePACT
			switch i {
			case 0:
				log = append(log, repeated)
			case 1:
				log = append(log, direct)
			case 2:
				log = append(log, repeated, direct)
			}
		}
	}
	// Find My keys and noise nobody uploads.
	for i := range 40 {
		log = append(log, pact.Sighting{Chirp: chirpN(byte(100 + i)), Minute: start + pact.Minute(i), RSSI: -70, Source: pact.SourceFindMy})
	}
	return log, tuples
}

func matchAll(t *testing.T, db *DB, tuples []pact.Tuple) []pact.Contact {
	t.Helper()
	m, err := pact.LoadMatcher(context.Background(), db, pact.MatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var got []pact.Contact
	if _, err := m.Match(pact.TupleSeq(tuples), func(c pact.Contact) error {
		got = append(got, c)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return got
}

// checkHiddenAggregates compares the per-hour counts with a GROUP BY over
// both logs and checks that the histogram holds the plain rows only.
func checkHiddenAggregates(t *testing.T, db *DB) {
	t.Helper()
	ctx := context.Background()
	got, err := db.SightingsPerHour(ctx, 0, pact.Minute(^uint32(0)))
	if err != nil {
		t.Fatal(err)
	}
	var want []HourCount
	rows, err := db.SQL().QueryContext(ctx, `SELECT hour, source, count(*) FROM (
		SELECT minute / 60 AS hour, source FROM contacts UNION ALL SELECT minute / 60, 'sealed' FROM sealed_contacts)
		GROUP BY 1, 2 ORDER BY 1, 2`)
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
	var histogram, plain int64
	if err := db.SQL().QueryRowContext(ctx, `SELECT (SELECT coalesce(sum(sightings), 0) FROM contact_rssi_counts), (SELECT count(*) FROM contacts)`).Scan(&histogram, &plain); err != nil {
		t.Fatal(err)
	}
	if histogram != plain {
		t.Errorf("RSSI histogram counts %d sightings, the plain log holds %d", histogram, plain)
	}
}

// TestHiddenLogMatchesLikePlain stores the same sightings in a plain and a
// hidden log and checks that matching finds the same contacts, with the
// merged RSSI and the first location, and that retention and the
// dashboard counts follow the hidden log.
func TestHiddenLogMatchesLikePlain(t *testing.T) {
	ctx := context.Background()
	log, tuples := exposureLog()
	plain, _ := openTemp(t)
	hidden, _ := openTemp(t)
	if _, err := hidden.HideContactLog(ctx, hideTime); err != nil {
		t.Fatal(err)
	}
	for _, db := range []*DB{plain, hidden} {
		// Two batches, so merges happen inside a batch and across them.
		if err := db.AddSightings(ctx, log[:len(log)/2]); err != nil {
			t.Fatal(err)
		}
		if err := db.AddSightings(ctx, log[len(log)/2:]); err != nil {
			t.Fatal(err)
		}
	}
	want := matchAll(t, plain, tuples)
	got := matchAll(t, hidden, tuples)
	if len(want) == 0 || !reflect.DeepEqual(got, want) {
		t.Fatalf("hidden log matched\n%+v\nplain log matched\n%+v", got, want)
	}
	checkHiddenAggregates(t, hidden)
	if err := hidden.Sightings(ctx, 0, ^pact.Minute(0), func(pact.Sighting) error { return nil }); !errors.Is(err, ErrSealedLog) {
		t.Errorf("Sightings of a hidden log: err %v, want ErrSealedLog", err)
	}
	if err := hidden.FindMySightings(ctx, 0, ^pact.Minute(0), func(pact.Sighting) error { return nil }); !errors.Is(err, ErrSealedLog) {
		t.Errorf("FindMySightings of a hidden log: err %v, want ErrSealedLog", err)
	}
	// A Find My key is found by OpenSightingsOf, in either mode.
	for _, db := range []*DB{plain, hidden} {
		var found []pact.Sighting
		if err := db.OpenSightingsOf(ctx, 0, ^pact.Minute(0), []pact.Chirp{chirpN(105)}, func(s pact.Sighting) error {
			found = append(found, s)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if len(found) != 1 || found[0].Source != pact.SourceFindMy || found[0].Minute != log[len(log)-40+5].Minute {
			t.Errorf("OpenSightingsOf the key: %+v", found)
		}
	}
	// Retention inside an hour.
	cut := tuples[0].Start + 31
	np, err := plain.DeleteSightingsBefore(ctx, cut)
	if err != nil {
		t.Fatal(err)
	}
	nh, err := hidden.DeleteSightingsBefore(ctx, cut)
	if err != nil {
		t.Fatal(err)
	}
	if np != nh || np == 0 {
		t.Errorf("retention erased %d hidden rows and %d plain ones", nh, np)
	}
	checkHiddenAggregates(t, hidden)
	if got, want := matchAll(t, hidden, tuples), matchAll(t, plain, tuples); !reflect.DeepEqual(got, want) {
		t.Errorf("after retention the hidden log matched %d contacts, the plain one %d", len(got), len(want))
	}
}

// fillPlain stores n sightings of distinct chirps with a recognisable
// first byte pattern and returns them.
func fillPlain(t *testing.T, db *DB, n int) []pact.Sighting {
	t.Helper()
	log := make([]pact.Sighting, n)
	for i := range log {
		var c pact.Chirp
		copy(c[:], "CHIRP-")
		c[6], c[7], c[8] = byte(i>>16), byte(i>>8), byte(i)
		for j := 9; j < pact.ChirpSize; j++ {
			c[j] = byte(i*7 + j)
		}
		log[i] = pact.Sighting{Chirp: c, Minute: pact.Minute(29_462_400 + i/50), RSSI: int8(-40 - i%50), Source: pact.SourcePACT}
		if i%3 == 0 {
			log[i].Location = &pact.Location{Lat: 48.85, Lon: 2.35}
		}
	}
	if err := db.AddSightings(context.Background(), log); err != nil {
		t.Fatal(err)
	}
	return log
}

// checkAllSealed checks that every sighting of log is in the sealed log
// and opens to what was stored, and that no plain row is left.
func checkAllSealed(t *testing.T, db *DB, log []pact.Sighting) {
	t.Helper()
	ctx := context.Background()
	chirps := make([]pact.Chirp, len(log))
	for i := range log {
		chirps[i] = log[i].Chirp
	}
	var got []pact.Sighting
	if err := db.OpenSightingsOf(ctx, 0, ^pact.Minute(0), chirps, func(s pact.Sighting) error {
		got = append(got, s)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(log)
	sortSightings(want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%d sightings open from the hidden log, want the %d stored", len(got), len(want))
	}
	var plain int
	if err := db.SQL().QueryRowContext(ctx, `SELECT count(*) FROM contacts`).Scan(&plain); err != nil {
		t.Fatal(err)
	}
	if plain != 0 {
		t.Errorf("%d plain rows left", plain)
	}
	checkHiddenAggregates(t, db)
}

// checkNoChirpInFiles reads every file of the database, -wal and -shm
// included, for the first 12 bytes of each chirp.
func checkNoChirpInFiles(t *testing.T, path string, log []pact.Sighting) {
	t.Helper()
	files, err := filepath.Glob(path + "*")
	if err != nil || len(files) == 0 {
		t.Fatalf("database files %v, %v", files, err)
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(raw, []byte("SQLite format 3")) && filepath.Base(f) == filepath.Base(path) {
			t.Fatalf("%s is not the database", f)
		}
		for _, s := range log {
			if bytes.Contains(raw, s.Chirp[:12]) {
				t.Errorf("%s still holds chirp %s", f, s.Chirp)
				break
			}
		}
	}
}

func TestHideContactLogInPlace(t *testing.T) {
	ctx := context.Background()
	db, path := openTemp(t)
	log := fillPlain(t, db, 3*hideChunk+17)
	checkAggregates(t, db)
	// Before: the chirps are in the files (the check can fail).
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(raw, log[0].Chirp[:12]) {
		t.Fatal("the plain log's file does not hold its first chirp: the byte check below proves nothing")
	}
	db, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	moved, err := db.HideContactLog(ctx, hideTime)
	if err != nil {
		t.Fatal(err)
	}
	if moved != int64(len(log)) {
		t.Errorf("moved %d rows, want %d", moved, len(log))
	}
	mode, err := db.ContactLogMode(ctx)
	if err != nil || mode != ModeHidden {
		t.Errorf("mode %q, %v", mode, err)
	}
	checkAllSealed(t, db, log)
	// While the database is still open, as a seizure would find it.
	checkNoChirpInFiles(t, path, log)
	// Hiding again moves nothing.
	if moved, err := db.HideContactLog(ctx, hideTime); err != nil || moved != 0 {
		t.Errorf("second HideContactLog moved %d, %v", moved, err)
	}
}

var errStopHiding = errors.New("stopped")

// TestHideContactLogInterrupted stops the move after its first committed
// chunk, then reopens the database: Open finishes the move, and no row is
// lost or doubled on the way.
func TestHideContactLogInterrupted(t *testing.T) {
	ctx := context.Background()
	db, path := openTemp(t)
	log := fillPlain(t, db, 2*hideChunk+5)
	if _, err := db.db.ExecContext(ctx, `UPDATE contact_log_mode SET mode = 'hidden'`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.finishHiding(ctx, func() error { return errStopHiding }); !errors.Is(err, errStopHiding) {
		t.Fatalf("finishHiding: %v", err)
	}
	var plain, sealed int
	if err := db.SQL().QueryRowContext(ctx, `SELECT (SELECT count(*) FROM contacts), (SELECT count(*) FROM sealed_contacts)`).Scan(&plain, &sealed); err != nil {
		t.Fatal(err)
	}
	if plain+sealed != len(log) || sealed != hideChunk {
		t.Fatalf("after one chunk: %d plain and %d sealed rows, want %d in all, %d sealed", plain, sealed, len(log), hideChunk)
	}
	checkHiddenAggregates(t, db)
	db.Close()
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	checkAllSealed(t, db, log)
	checkNoChirpInFiles(t, path, log)
}

// TestHideContactLogKilled kills a process in the middle of a chunk's
// transaction, after its rows were written and before the commit: no
// cleanup runs, as in a crash or power loss. Reopening finishes the move
// with every row.
func TestHideContactLogKilled(t *testing.T) {
	if path := os.Getenv("DEVICEDB_HIDE_CRASH_PATH"); path != "" {
		// The child: hide, and exit inside the second chunk.
		db, err := Open(path)
		if err != nil {
			os.Exit(2)
		}
		chunks := 0
		hideChunkWritten = func() {
			if chunks++; chunks == 2 {
				os.Exit(3)
			}
		}
		db.HideContactLog(context.Background(), hideTime)
		os.Exit(4) // not reached: the move has three chunks
	}
	db, path := openTemp(t)
	log := fillPlain(t, db, 2*hideChunk+5)
	db.Close()
	cmd := exec.Command(os.Args[0], "-test.run", "^TestHideContactLogKilled$")
	cmd.Env = append(os.Environ(), "DEVICEDB_HIDE_CRASH_PATH="+path)
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Fatalf("child: %v, want exit status 3", err)
	}
	raw, err := os.ReadFile(path + "-wal")
	if err != nil || len(raw) == 0 {
		t.Fatalf("the killed process left no WAL (%v): the crash did not happen mid-move", err)
	}
	db2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	checkAllSealed(t, db2, log)
	checkNoChirpInFiles(t, path, log)
}
