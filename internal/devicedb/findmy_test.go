package devicedb

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/pact-findmy/pact-findmy/findmy"
	"github.com/pact-findmy/pact-findmy/pact"
)

func TestPartialSightings(t *testing.T) {
	p := findmy.Prefix{0xC1, 0x22, 0x33, 0x44, 0x55, 0x66}
	for _, tc := range []struct {
		name    string
		batches [][]PartialSighting
		want    []PartialSighting
		wantErr error
	}{
		{
			name: "strongest RSSI per minute, prefix and width",
			batches: [][]PartialSighting{
				{{Minute: 10, Prefix: p, Bits: 48, RSSI: -80}, {Minute: 10, Prefix: p, Bits: 48, RSSI: -60}},
				{{Minute: 10, Prefix: p, Bits: 48, RSSI: -70}, {Minute: 10, Prefix: p, Bits: 48, RSSI: pact.RSSIUnknown}},
			},
			want: []PartialSighting{{Minute: 10, Prefix: p, Bits: 48, RSSI: -60}},
		},
		{
			name:    "unknown RSSI is replaced by a reading",
			batches: [][]PartialSighting{{{Minute: 3, Prefix: p, Bits: 48, RSSI: pact.RSSIUnknown}}, {{Minute: 3, Prefix: p, Bits: 48, RSSI: -90}}},
			want:    []PartialSighting{{Minute: 3, Prefix: p, Bits: 48, RSSI: -90}},
		},
		{
			name:    "a 46-bit prefix is stored without the address's forced top bits",
			batches: [][]PartialSighting{{{Minute: 5, Prefix: p, Bits: 46, RSSI: -50}, {Minute: 5, Prefix: p, Bits: 48, RSSI: -55}}},
			want: []PartialSighting{
				{Minute: 5, Prefix: findmy.Prefix{0x01, 0x22, 0x33, 0x44, 0x55, 0x66}, Bits: 46, RSSI: -50},
				{Minute: 5, Prefix: p, Bits: 48, RSSI: -55},
			},
		},
		{
			name:    "a width other than 46 or 48 refuses the whole batch",
			batches: [][]PartialSighting{{{Minute: 1, Prefix: p, Bits: 48, RSSI: -50}, {Minute: 2, Prefix: p, Bits: 47, RSSI: -50}}},
			wantErr: ErrInvalidPartial,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, _ := openTemp(t)
			ctx := context.Background()
			var err error
			for _, b := range tc.batches {
				if err = db.AddPartialSightings(ctx, b); err != nil {
					break
				}
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("AddPartialSightings: %v, want %v", err, tc.wantErr)
			}
			var got []PartialSighting
			if err := db.PartialSightings(ctx, 0, 1<<31, func(s PartialSighting) error { got = append(got, s); return nil }); err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("row %d = %+v, want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestPartialSightingsSpanChunks(t *testing.T) {
	db, _ := openTemp(t)
	ctx := context.Background()
	var batch []PartialSighting
	for i := range 3*rowsPerInsert + 7 {
		batch = append(batch, PartialSighting{Minute: pact.Minute(i / 4), Prefix: findmy.Prefix{byte(i), byte(i >> 8)}, Bits: 48, RSSI: -60})
	}
	if err := db.AddPartialSightings(ctx, batch); err != nil {
		t.Fatal(err)
	}
	n := 0
	if err := db.PartialSightings(ctx, 0, 1<<31, func(PartialSighting) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != len(batch) {
		t.Fatalf("%d rows stored, want %d", n, len(batch))
	}
}

func TestFindMySightingsOnlyFindMy(t *testing.T) {
	db, _ := openTemp(t)
	ctx := context.Background()
	if err := db.AddSightings(ctx, []pact.Sighting{
		{Chirp: chirpN(1), Minute: 100, RSSI: -50, Source: pact.SourceFindMy},
		{Chirp: chirpN(2), Minute: 100, RSSI: -50, Source: pact.SourcePACT},
		{Chirp: chirpN(3), Minute: 200, RSSI: -50, Source: pact.SourceFindMy},
	}); err != nil {
		t.Fatal(err)
	}
	var got []pact.Chirp
	if err := db.FindMySightings(ctx, 50, 150, func(s pact.Sighting) error { got = append(got, s.Chirp); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != chirpN(1) {
		t.Fatalf("got %x, want only the findmy sighting at minute 100", got)
	}
}

func TestFindMyMatches(t *testing.T) {
	key := findmy.Key{0xAA, 1, 2, 3}
	day := uint32(20000)
	dayStart := pact.Minute(day * pact.MinutesPerDay)
	full := FindMyMatch{Heard: dayStart + 5, Key: key, Evidence: EvidenceFindMy, Bits: FullKeyBits, WindowStart: dayStart, WindowEnd: dayStart + 14, RSSI: -60, Batch: "b1"}
	partial := full
	partial.Evidence, partial.Bits = EvidenceFindMyPartial, PartialBitsShort
	lastMinute := full
	lastMinute.Heard = dayStart + pact.MinutesPerDay - 1
	nextDay := full
	nextDay.Heard = dayStart + pact.MinutesPerDay
	fromLater := full
	fromLater.Batch, fromLater.RSSI = "b2", -40
	reverse := full
	reverse.Reverse = true
	ordinaryLater := fromLater // what a reverse row becomes when a later batch matches it unflagged

	separated := full
	separated.Key, separated.Secondary, separated.WindowEnd = findmy.Key{0xBB}, true, dayStart+pact.MinutesPerDay-1
	separatedPartial := partial
	separatedPartial.Secondary = true
	for _, tc := range []struct {
		name      string
		batches   [][]FindMyMatch
		wantAdded []int
		want      []FindMyMatch
		wantErr   error
	}{
		{
			name:      "full and partial evidence of one minute are kept apart",
			batches:   [][]FindMyMatch{{full, partial}},
			wantAdded: []int{2},
			want:      []FindMyMatch{full, partial},
		},
		{
			name:      "a later batch does not replace a stored match",
			batches:   [][]FindMyMatch{{full}, {fromLater, full}},
			wantAdded: []int{1, 0},
			want:      []FindMyMatch{full},
		},
		{
			name:      "a later ordinary match turns a reverse-tracing row ordinary (spec §9.2)",
			batches:   [][]FindMyMatch{{reverse}, {ordinaryLater}},
			wantAdded: []int{1, 1},
			want:      []FindMyMatch{ordinaryLater},
		},
		{
			name:      "a later reverse-tracing match leaves an ordinary row ordinary",
			batches:   [][]FindMyMatch{{full}, {reverse}},
			wantAdded: []int{1, 0},
			want:      []FindMyMatch{full},
		},
		{
			name:      "matched both ways in one batch, the ordinary match is kept whatever the order",
			batches:   [][]FindMyMatch{{reverse, full}},
			wantAdded: []int{1},
			want:      []FindMyMatch{full},
		},
		{
			name:      "a reverse-tracing match alone is stored as such",
			batches:   [][]FindMyMatch{{reverse}, {reverse}},
			wantAdded: []int{1, 0},
			want:      []FindMyMatch{reverse},
		},
		{
			name:      "the day ends at its last minute",
			batches:   [][]FindMyMatch{{lastMinute, nextDay}},
			wantAdded: []int{2},
			want:      []FindMyMatch{lastMinute},
		},
		{
			name:    "partial evidence with a full key's width is refused",
			batches: [][]FindMyMatch{{full, {Heard: dayStart, Key: key, Evidence: EvidenceFindMyPartial, Bits: FullKeyBits, WindowStart: dayStart, WindowEnd: dayStart}}},
			wantErr: ErrInvalidFindMyMatch,
		},
		{
			name:    "an unknown evidence is refused",
			batches: [][]FindMyMatch{{{Heard: dayStart, Key: key, Evidence: "pact", Bits: FullKeyBits, WindowStart: dayStart, WindowEnd: dayStart}}},
			wantErr: ErrInvalidFindMyMatch,
		},
		{
			name:      "a secondary key's match reads back as secondary",
			batches:   [][]FindMyMatch{{full, separated}},
			wantAdded: []int{2},
			want:      []FindMyMatch{full, separated},
		},
		{
			name:    "partial evidence of a secondary key is refused",
			batches: [][]FindMyMatch{{separatedPartial}},
			wantErr: ErrInvalidFindMyMatch,
		},
		{
			name:    "a window ending before it starts is refused",
			batches: [][]FindMyMatch{{{Heard: dayStart, Key: key, Evidence: EvidenceFindMy, Bits: FullKeyBits, WindowStart: dayStart + 1, WindowEnd: dayStart}}},
			wantErr: ErrInvalidFindMyMatch,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, _ := openTemp(t)
			ctx := context.Background()
			var err error
			for i, b := range tc.batches {
				var n int
				if n, err = db.AddFindMyMatches(ctx, b); err != nil {
					break
				}
				if n != tc.wantAdded[i] {
					t.Errorf("batch %d added %d, want %d", i, n, tc.wantAdded[i])
				}
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("AddFindMyMatches: %v, want %v", err, tc.wantErr)
			}
			got, err := db.FindMyMatchesOnDay(ctx, day)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("row %d = %+v, want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

// TestBatchFindMyMatchesRollBack checks that Find My matches stored in a
// batch's transaction disappear with it, and that the batch reports the
// days and evidence that gained a row.
func TestBatchFindMyMatchesRollBack(t *testing.T) {
	db, _ := openTemp(t)
	ctx := context.Background()
	m := FindMyMatch{Heard: 100, Key: findmy.Key{1}, Evidence: EvidenceFindMy, Bits: FullKeyBits, WindowStart: 90, WindowEnd: 104, RSSI: -50, Batch: "b"}
	errAbort := errors.New("abort")
	for seq, commit := range []bool{false, true} {
		b := AppliedBatch{Server: "s", Region: "CH", Sequence: uint64(seq + 1), ID: "CH.1", Applied: time.Unix(0, 0)}
		err := db.ApplyBatch(ctx, b, func(tx *BatchTx) error {
			days, err := tx.AddFindMyMatches([]FindMyMatch{m})
			if err != nil {
				return err
			}
			if want := []DaySource{{Day: m.Heard.Day(), Source: pact.Source(EvidenceFindMy)}}; !slices.Equal(days, want) {
				t.Errorf("AddFindMyMatches = %v, want %v", days, want)
			}
			if !commit {
				return errAbort
			}
			return nil
		})
		if want := map[bool]error{false: errAbort, true: nil}[commit]; !errors.Is(err, want) {
			t.Fatalf("ApplyBatch = %v, want %v", err, want)
		}
		n := 0
		if err := db.FindMyMatches(ctx, 0, 1<<31, func(FindMyMatch) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		if want := map[bool]int{false: 0, true: 1}[commit]; n != want {
			t.Fatalf("commit=%v: %d rows, want %d", commit, n, want)
		}
	}
}

// TestRetentionErasesFindMyBytes checks that the contact log's retention
// (pact.ContactLog.Expire calls DeleteSightingsBefore) erases partial
// sightings and Find My matches past the horizon from every file, and
// keeps the recent ones (spec §5.3).
func TestRetentionErasesFindMyBytes(t *testing.T) {
	db, path := openTemp(t)
	ctx := context.Background()
	oldPrefix := findmy.Prefix{0xD7, 0x3a, 0x5c, 0x9e, 0x17, 0xb4}
	oldKey := findmy.Key{0x4b, 0x1d, 0xf0, 0x0d, 0x2e, 0x3f, 0x40, 0x51, 0x62, 0x73, 0x84, 0x95}
	newPrefix := findmy.Prefix{0xC0, 0x42, 0x42, 0x42, 0x42, 0x42}
	if err := db.AddPartialSightings(ctx, []PartialSighting{
		{Minute: 61, Prefix: oldPrefix, Bits: 48, RSSI: -50},
		{Minute: 6001, Prefix: newPrefix, Bits: 48, RSSI: -50},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.AddFindMyMatches(ctx, []FindMyMatch{
		{Heard: 61, Key: oldKey, Evidence: EvidenceFindMy, Bits: FullKeyBits, WindowStart: 60, WindowEnd: 74, RSSI: -50, Batch: "b"},
		{Heard: 6001, Key: findmy.Key{9}, Evidence: EvidenceFindMy, Bits: FullKeyBits, WindowStart: 6000, WindowEnd: 6014, RSSI: -50, Batch: "b"},
	}); err != nil {
		t.Fatal(err)
	}
	clock := &pact.ManualClock{}
	clock.Set(pact.Minute(6000 + pact.DefaultRetention).Time())
	log := pact.NewContactLog(db, pact.ContactLogOptions{Clock: clock})
	if _, err := log.Expire(ctx); err != nil {
		t.Fatal(err)
	}
	// Read the files while the database is open: Close would checkpoint
	// and hide a WAL that still holds an erased row.
	files, err := filepath.Glob(path + "*")
	if err != nil || len(files) == 0 {
		t.Fatalf("database files %v, %v", files, err)
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(raw, oldPrefix[:]) || bytes.Contains(raw, oldKey[:12]) {
			t.Errorf("%s still holds an erased partial prefix or matched key", f)
		}
	}
	var partial []PartialSighting
	if err := db.PartialSightings(ctx, 0, 1<<31, func(p PartialSighting) error { partial = append(partial, p); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(partial) != 1 || partial[0].Prefix != newPrefix {
		t.Fatalf("partial sightings after retention = %+v, want only the recent one", partial)
	}
	matches := 0
	if err := db.FindMyMatches(ctx, 0, 1<<31, func(FindMyMatch) error { matches++; return nil }); err != nil || matches != 1 {
		t.Fatalf("%d Find My matches after retention, %v; want 1", matches, err)
	}
}
