package devicedb

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/pact-findmy/pact-findmy/pact"
)

// TestReverseContactsKeptApart applies batches whose matches are ordinary
// or reverse-tracing (spec §9.2) and checks that each kind is read only
// through its own methods, that a sighting matched both ways is ordinary
// whatever the order of the batches, and which days each batch reports.
func TestReverseContactsKeptApart(t *testing.T) {
	day := uint32(20400)
	m0 := pact.Minute(day * pact.MinutesPerDay)
	a, b, c := contactAt(1, m0+10), contactAt(2, m0+20), contactAt(3, m0+pact.MinutesPerDay+5)
	type batch struct {
		ordinary, reverse []pact.Contact
		wantDays          []DaySource
		wantOrdinary      int // BatchTx.Contacts
		wantReverse       int // BatchTx.ReverseContacts
	}
	ordinaryDay := func(d uint32) DaySource { return DaySource{Day: d, Source: pact.SourcePACT} }
	reverseDay := func(d uint32) DaySource { return DaySource{Day: d, Source: pact.SourcePACT, Reverse: true} }
	for _, tc := range []struct {
		name                      string
		batches                   []batch
		wantOrdinary, wantReverse []pact.Minute // minutes heard of the stored rows of each kind
	}{
		{
			name:        "reverse-tracing matches alone",
			batches:     []batch{{reverse: []pact.Contact{a, c}, wantDays: []DaySource{reverseDay(day), reverseDay(day + 1)}, wantReverse: 2}},
			wantReverse: []pact.Minute{a.Heard, c.Heard},
		},
		{
			name: "ordinary and reverse-tracing matches of different sightings",
			batches: []batch{{ordinary: []pact.Contact{a}, reverse: []pact.Contact{b},
				wantDays: []DaySource{ordinaryDay(day), reverseDay(day)}, wantOrdinary: 1, wantReverse: 1}},
			wantOrdinary: []pact.Minute{a.Heard},
			wantReverse:  []pact.Minute{b.Heard},
		},
		{
			name:         "one sighting matched both ways in one batch is ordinary",
			batches:      []batch{{ordinary: []pact.Contact{a}, reverse: []pact.Contact{a}, wantDays: []DaySource{ordinaryDay(day)}, wantOrdinary: 1}},
			wantOrdinary: []pact.Minute{a.Heard},
		},
		{
			name: "a later ordinary match turns a reverse-tracing row ordinary and reports its day",
			batches: []batch{
				{reverse: []pact.Contact{a, b}, wantDays: []DaySource{reverseDay(day)}, wantReverse: 2},
				{ordinary: []pact.Contact{a}, wantDays: []DaySource{ordinaryDay(day)}, wantOrdinary: 1},
			},
			wantOrdinary: []pact.Minute{a.Heard},
			wantReverse:  []pact.Minute{b.Heard},
		},
		{
			name: "a later reverse-tracing match leaves an ordinary row as it is",
			batches: []batch{
				{ordinary: []pact.Contact{a}, wantDays: []DaySource{ordinaryDay(day)}, wantOrdinary: 1},
				{reverse: []pact.Contact{a}},
			},
			wantOrdinary: []pact.Minute{a.Heard},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			db, _ := openTemp(t)
			for i, bt := range tc.batches {
				var days []DaySource
				var ordinary, reverse int
				rec := AppliedBatch{Server: "lab", Region: "CH", Sequence: uint64(i + 1), ID: fmt.Sprintf("CH.%d", i+1), Applied: time.Unix(0, 0)}
				err := db.ApplyBatch(ctx, rec, func(tx *BatchTx) error {
					od, err := tx.AddContacts(bt.ordinary)
					if err != nil {
						return err
					}
					rd, err := tx.AddReverseContacts(bt.reverse)
					if err != nil {
						return err
					}
					days = append(od, rd...)
					ordinary, reverse = tx.Contacts(), tx.ReverseContacts()
					return nil
				})
				if err != nil {
					t.Fatalf("batch %d: %v", i+1, err)
				}
				SortDaySources(days)
				if !slices.Equal(days, bt.wantDays) {
					t.Errorf("batch %d reported days %+v, want %+v", i+1, days, bt.wantDays)
				}
				if ordinary != bt.wantOrdinary || reverse != bt.wantReverse {
					t.Errorf("batch %d stored %d ordinary and %d reverse rows, want %d and %d", i+1, ordinary, reverse, bt.wantOrdinary, bt.wantReverse)
				}
			}
			read := func(fn func(context.Context, pact.Minute, pact.Minute, func(pact.Contact) error) error) []pact.Minute {
				var out []pact.Minute
				if err := fn(ctx, 0, ^pact.Minute(0), func(c pact.Contact) error { out = append(out, c.Heard); return nil }); err != nil {
					t.Fatal(err)
				}
				return out
			}
			if got := read(db.Contacts); !slices.Equal(got, tc.wantOrdinary) {
				t.Errorf("Contacts heard at %v, want %v", got, tc.wantOrdinary)
			}
			if got := read(db.ReverseContacts); !slices.Equal(got, tc.wantReverse) {
				t.Errorf("ReverseContacts heard at %v, want %v", got, tc.wantReverse)
			}
			// The per-day aggregates follow the same split.
			for _, k := range []struct {
				name string
				fn   func(context.Context, pact.Minute, pact.Minute, pact.ScoreOptions) ([]ExposureDay, error)
				want []pact.Minute
			}{{"ExposureDays", db.ExposureDays, tc.wantOrdinary}, {"ReverseExposureDays", db.ReverseExposureDays, tc.wantReverse}} {
				got, err := k.fn(ctx, 0, ^pact.Minute(0), pact.ScoreOptions{})
				if err != nil {
					t.Fatal(err)
				}
				minutes := 0
				for _, d := range got {
					minutes += d.Minutes
				}
				if minutes != len(k.want) {
					t.Errorf("%s = %+v: %d minutes, want %d", k.name, got, minutes, len(k.want))
				}
			}
			sums, err := db.DaySummaries(ctx, 0, ^pact.Minute(0), pact.ScoreOptions{})
			if err != nil {
				t.Fatal(err)
			}
			minutes := 0
			for _, s := range sums {
				minutes += s.Minutes
			}
			if minutes != len(tc.wantOrdinary) {
				t.Errorf("DaySummaries = %+v: %d minutes, want the %d ordinary ones", sums, minutes, len(tc.wantOrdinary))
			}
		})
	}
}

// TestMigrationKeepsMatchesOrdinary checks that migration 0010 keeps the match
// rows of a database from before it, as ordinary ones.
func TestMigrationKeepsMatchesOrdinary(t *testing.T) {
	path := oldDevicedbFile(t, 2)
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	n := 0
	if err := db.Contacts(ctx, 0, ^pact.Minute(0), func(pact.Contact) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	r := 0
	if err := db.ReverseContacts(ctx, 0, ^pact.Minute(0), func(pact.Contact) error { r++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 1 || r != 0 {
		t.Fatalf("after the upgrade: %d ordinary and %d reverse-tracing rows, want 1 and 0", n, r)
	}
}
