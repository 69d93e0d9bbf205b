package findmymatch

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/pact-findmy/pact-findmy/exposureclient"
	"github.com/pact-findmy/pact-findmy/findmy"
	"github.com/pact-findmy/pact-findmy/internal/devicedb"
	"github.com/pact-findmy/pact-findmy/pact"
)

func openDB(t testing.TB) *devicedb.DB {
	t.Helper()
	db, err := devicedb.Open(filepath.Join(t.TempDir(), "device.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// key returns a test key whose first byte is n and whose other bytes tell
// it apart from every other n.
func key(n byte) findmy.Key {
	var k findmy.Key
	for i := range k {
		k[i] = n ^ byte(i*37)
	}
	k[0] = n
	return k
}

// t0 is the start of a 15-minute slot on 2026-11-30.
const t0 = pact.Minute(29407680)

// Keys of the fixture batch: a near-owner accessory's keys A1..A3 in
// consecutive 15-minute slots, a lone near-owner key L with no neighbour,
// and a separated accessory's daily secondary key S.
var (
	keyA1, keyA2, keyA3, keyL, keyS = key(0x11), key(0x22), key(0x33), key(0x44), key(0x55)
	fixture                         = []exposureclient.FindMyKey{
		{Key: keyA1, Start: t0, End: t0 + 14},
		{Key: keyA2, Start: t0 + 15, End: t0 + 29},
		{Key: keyA3, Start: t0 + 30, End: t0 + 44},
		{Key: keyL, Start: t0 + 120, End: t0 + 134},
		{Key: keyS, Start: t0 - 240, End: t0 - 240 + pact.MinutesPerDay - 1, Secondary: true},
	}
	names = map[findmy.Key]string{keyA1: "A1", keyA2: "A2", keyA3: "A3", keyL: "L", keyS: "S"}
)

func full(k findmy.Key, m pact.Minute) pact.Sighting {
	return pact.Sighting{Chirp: pact.Chirp(k), Minute: m, RSSI: -60, Source: pact.SourceFindMy}
}

// repeated is a key heard from a repeater (spec §9.1.4).
func repeated(k findmy.Key, m pact.Minute) pact.Sighting {
	return pact.Sighting{Chirp: pact.Chirp(k), Minute: m, RSSI: -70, Source: pact.SourceFindMyRepeater}
}

func short(k findmy.Key, m pact.Minute) devicedb.PartialSighting {
	return devicedb.PartialSighting{Minute: m, Prefix: k.Prefix(), Bits: devicedb.PartialBitsShort, RSSI: -55}
}

// dult is the 46-bit prefix a DULT frame yields: the address, whose two
// top bits are set whatever the key's are.
func dult(k findmy.Key, m pact.Minute) devicedb.PartialSighting {
	p := k.Prefix()
	p[0] |= 0xC0
	return devicedb.PartialSighting{Minute: m, Prefix: p, Bits: devicedb.PartialBitsDULT, RSSI: -65}
}

// flipTop returns k's 48-bit short-form sighting with the payload bits
// (key bits 47-46) changed: the address agrees, the payload does not.
func flipTop(k findmy.Key, m pact.Minute) devicedb.PartialSighting {
	s := short(k, m)
	s.Prefix[0] ^= 0x80
	return s
}

// flipBit45 changes the most significant key bit an address carries.
func flipBit45(s devicedb.PartialSighting) devicedb.PartialSighting {
	s.Prefix[0] ^= 0x20
	return s
}

// row renders a result as "key minute-offset evidence bits", and
// "secondary" for a secondary key's.
func row(m devicedb.FindMyMatch) string {
	s := fmt.Sprintf("%s %+d %s %d", names[m.Key], int64(m.Heard)-int64(t0), m.Evidence, m.Bits)
	if m.Secondary {
		s += " secondary"
	}
	return s
}

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		name    string
		full    []pact.Sighting
		partial []devicedb.PartialSighting
		want    []string
	}{
		{name: "full key inside its slot", full: []pact.Sighting{full(keyA1, t0+3)},
			want: []string{"A1 +3 findmy 224"}},
		{name: "full key at both edges of its tolerance",
			full: []pact.Sighting{full(keyL, t0+120-15), full(keyL, t0+134+15)},
			want: []string{"L +105 findmy 224", "L +149 findmy 224"}},
		{name: "full key a minute past its tolerance on either side",
			full: []pact.Sighting{full(keyL, t0+120-16), full(keyL, t0+134+16)}},
		{name: "full key hours from its slot, inside the batch's period",
			full: []pact.Sighting{full(keyL, t0+44), full(keyL, t0+300)}},
		{name: "a PACT sighting with the key's bytes is not Find My evidence",
			full: []pact.Sighting{{Chirp: pact.Chirp(keyA1), Minute: t0 + 3, RSSI: -60, Source: pact.SourcePACT}}},
		{name: "secondary daily key within a day of its window",
			full: []pact.Sighting{full(keyS, t0-240-pact.MinutesPerDay), full(keyS, t0+600), full(keyS, t0-241+2*pact.MinutesPerDay)},
			want: []string{"S -1680 findmy 224 secondary", "S +600 findmy 224 secondary", "S +2639 findmy 224 secondary"}},
		{name: "a secondary key is not matched by its prefix",
			partial: []devicedb.PartialSighting{short(keyS, t0+600), short(keyA1, t0+14), short(keyA2, t0+15)},
			want:    []string{"A1 +14 findmy-partial 48", "A2 +15 findmy-partial 48"}},
		{name: "secondary daily key more than a day from its window",
			full: []pact.Sighting{full(keyS, t0-241-pact.MinutesPerDay), full(keyS, t0-240+2*pact.MinutesPerDay)}},
		{name: "a key heard from a repeater up to MaxRepeatDelay after its tolerance is indirect",
			full: []pact.Sighting{repeated(keyL, t0+120-15), repeated(keyL, t0+134+15+15)},
			want: []string{"L +105 findmy-repeater 224", "L +164 findmy-repeater 224"}},
		{name: "a key heard from a repeater a minute too late, or before its tolerance, does not match",
			full: []pact.Sighting{repeated(keyL, t0+134+15+16), repeated(keyL, t0+120-16)}},
		{name: "a direct key keeps its tolerance when repeated ones are near",
			full: []pact.Sighting{full(keyL, t0+134+16), repeated(keyL, t0+134+17)},
			want: []string{"L +151 findmy-repeater 224"}},
		{name: "a repeated key does not corroborate a prefix in the adjacent slot",
			full:    []pact.Sighting{repeated(keyA3, t0+40)},
			partial: []devicedb.PartialSighting{short(keyA2, t0+29)},
			want:    []string{"A3 +40 findmy-repeater 224"}},
		{name: "48-bit prefixes in two consecutive slots",
			partial: []devicedb.PartialSighting{short(keyA1, t0+10), short(keyA1, t0+14), short(keyA2, t0+15)},
			want:    []string{"A1 +10 findmy-partial 48", "A1 +14 findmy-partial 48", "A2 +15 findmy-partial 48"}},
		{name: "46-bit prefixes in two consecutive slots",
			partial: []devicedb.PartialSighting{dult(keyA2, t0+20), dult(keyA3, t0+31)},
			want:    []string{"A2 +20 findmy-partial 46", "A3 +31 findmy-partial 46"}},
		{name: "48- and 46-bit prefixes of one minute merge into the wider",
			partial: []devicedb.PartialSighting{dult(keyA1, t0+5), short(keyA1, t0+5), short(keyA2, t0+16)},
			want:    []string{"A1 +5 findmy-partial 48", "A2 +16 findmy-partial 48"}},
		{name: "a prefix in a single slot is not reported",
			partial: []devicedb.PartialSighting{short(keyA1, t0+1), short(keyA1, t0+2), short(keyL, t0+125)}},
		{name: "a prefix next to a full key heard in the adjacent slot",
			full:    []pact.Sighting{full(keyA3, t0+40)},
			partial: []devicedb.PartialSighting{short(keyA2, t0+29)},
			want:    []string{"A2 +29 findmy-partial 48", "A3 +40 findmy 224"}},
		{name: "a neighbour's prefix heard only outside its tolerance does not corroborate",
			partial: []devicedb.PartialSighting{short(keyA1, t0+5), short(keyA2, t0+45+15)}},
		{name: "the short form's payload bits must agree",
			partial: []devicedb.PartialSighting{flipTop(keyA1, t0+5), flipTop(keyA2, t0+20)}},
		{name: "a 46-bit prefix must agree on key bit 45",
			partial: []devicedb.PartialSighting{flipBit45(dult(keyA1, t0+5)), dult(keyA2, t0+20)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := openDB(t)
			ctx := context.Background()
			if err := db.AddSightings(ctx, tc.full); err != nil {
				t.Fatal(err)
			}
			if err := db.AddPartialSightings(ctx, tc.partial); err != nil {
				t.Fatal(err)
			}
			ms, err := Match(ctx, db, fixture, Options{BatchID: "batch-7"})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, m := range ms {
				got = append(got, row(m))
				if m.Batch != "batch-7" {
					t.Errorf("%s: batch %q, want batch-7", row(m), m.Batch)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("matches\n%q\nwant\n%q", got, tc.want)
			}
			// The results are storable, and storing them twice adds nothing.
			for i, want := range []int{len(ms), 0} {
				n, err := db.AddFindMyMatches(ctx, ms)
				if err != nil || n != want {
					t.Fatalf("store %d: added %d, %v; want %d", i, n, err, want)
				}
			}
		})
	}
}

// TestMatchWindowCarried checks the fields a result copies from its key.
func TestMatchWindowCarried(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	if err := db.AddSightings(ctx, []pact.Sighting{full(keyA2, t0+31)}); err != nil {
		t.Fatal(err)
	}
	ms, err := Match(ctx, db, fixture, Options{BatchID: "b"})
	if err != nil {
		t.Fatal(err)
	}
	want := devicedb.FindMyMatch{Heard: t0 + 31, Key: keyA2, Evidence: devicedb.EvidenceFindMy, Bits: devicedb.FullKeyBits,
		WindowStart: t0 + 15, WindowEnd: t0 + 29, RSSI: -60, Batch: "b"}
	if len(ms) != 1 || ms[0] != want {
		t.Fatalf("got %+v, want [%+v]", ms, want)
	}
}

func TestMatchRejectsBadWindow(t *testing.T) {
	db := openDB(t)
	keys := []exposureclient.FindMyKey{fixture[0], {Key: keyL, Start: t0 + 10, End: t0 + 9}}
	_, err := Match(context.Background(), db, keys, Options{})
	if !errors.Is(err, ErrWindow) {
		t.Fatalf("Match: %v, want %v", err, ErrWindow)
	}
}

func TestRepeatedSpan(t *testing.T) {
	for _, tc := range []struct {
		start, end, lo, hi pact.Minute
		kind               findmy.KeyKind
	}{
		{start: 1000, end: 1014, lo: 985, hi: 1029 + pact.MaxRepeatDelay, kind: findmy.PrimaryKey},
		{start: 1440, end: 2879, lo: 0, hi: 4319 + pact.MaxRepeatDelay, kind: findmy.SecondaryKey},
		{start: ^pact.Minute(0) - 14, end: ^pact.Minute(0) - 20 + 14, lo: ^pact.Minute(0) - 29, hi: ^pact.Minute(0), kind: findmy.PrimaryKey},
	} {
		lo, hi := RepeatedSpan(tc.start, tc.end, tc.kind)
		if lo != tc.lo || hi != tc.hi {
			t.Errorf("RepeatedSpan(%d, %d, %v) = %d, %d; want %d, %d", tc.start, tc.end, tc.kind, lo, hi, tc.lo, tc.hi)
		}
	}
}

func TestSpan(t *testing.T) {
	for _, tc := range []struct {
		start, end, lo, hi pact.Minute
		kind               findmy.KeyKind
	}{
		{start: 1000, end: 1014, lo: 985, hi: 1029, kind: findmy.PrimaryKey},
		{start: 1000, end: 1059, lo: 985, hi: 1074, kind: findmy.PrimaryKey},
		{start: 10000, end: 10014, lo: 10000 - pact.MinutesPerDay, hi: 10014 + pact.MinutesPerDay, kind: findmy.SecondaryKey},
		{start: 10000, end: 11439, lo: 10000 - pact.MinutesPerDay, hi: 11439 + pact.MinutesPerDay, kind: findmy.SecondaryKey},
		{start: 5, end: 19, lo: 0, hi: 34, kind: findmy.PrimaryKey},
		{start: 5, end: 19, lo: 0, hi: 19 + pact.MinutesPerDay, kind: findmy.SecondaryKey},
		{start: ^pact.Minute(0) - 14, end: ^pact.Minute(0), lo: ^pact.Minute(0) - 29, hi: ^pact.Minute(0), kind: findmy.PrimaryKey},
	} {
		lo, hi := Span(tc.start, tc.end, tc.kind)
		if lo != tc.lo || hi != tc.hi {
			t.Errorf("Span(%d, %d, kind %d) = %d, %d; want %d, %d", tc.start, tc.end, tc.kind, lo, hi, tc.lo, tc.hi)
		}
	}
}
