package pact

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"slices"
	"testing"
)

// hidingVector is one entry of testdata/hiding/vectors.json, written by
// testdata/hiding/vectors.py, an independent implementation on Python's
// cryptography package.
type hidingVector struct {
	Name      string   `json:"name"`
	Chirp     string   `json:"chirp"`
	Minute    uint32   `json:"minute"`
	RSSI      int8     `json:"rssi"`
	Source    string   `json:"source"`
	Lat       *float64 `json:"lat"`
	Lon       *float64 `json:"lon"`
	TxPower   *int8    `json:"tx_power"`
	Tag       string   `json:"tag"`
	Key       string   `json:"key"`
	Nonce     string   `json:"nonce"`
	Plaintext string   `json:"plaintext"`
	Sealed    string   `json:"sealed"`
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestHidingVectors(t *testing.T) {
	raw, err := os.ReadFile("testdata/hiding/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var vs []hidingVector
	if err := json.Unmarshal(raw, &vs); err != nil {
		t.Fatal(err)
	}
	if len(vs) == 0 {
		t.Fatal("no vectors")
	}
	for _, v := range vs {
		t.Run(v.Name, func(t *testing.T) {
			s := Sighting{Chirp: Chirp(unhex(t, v.Chirp)), Minute: Minute(v.Minute), RSSI: v.RSSI, TxPower: TxPowerUnknown, Source: Source(v.Source)}
			if v.TxPower != nil {
				s.TxPower = *v.TxPower
			}
			if v.Lat != nil {
				s.Location = &Location{Lat: *v.Lat, Lon: *v.Lon}
			}
			if tag := ContactTag(&s.Chirp); !bytes.Equal(tag[:], unhex(t, v.Tag)) {
				t.Errorf("tag %x, want %s", tag, v.Tag)
			}
			key, err := sealingKey(&s.Chirp)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(key, unhex(t, v.Key)) {
				t.Errorf("key %x, want %s", key, v.Key)
			}
			plain, err := appendSealedFields(nil, &s)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(plain, unhex(t, v.Plaintext)) {
				t.Errorf("plaintext %x, want %s", plain, v.Plaintext)
			}
			nonce := [SealedNonceSize]byte(unhex(t, v.Nonce))
			ss, err := SealSightingNonce(&s, &nonce)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(ss.Sealed, unhex(t, v.Sealed)) {
				t.Errorf("sealed %x, want %s", ss.Sealed, v.Sealed)
			}
			got, err := OpenSighting(&SealedSighting{Minute: s.Minute, Tag: Tag(unhex(t, v.Tag)), Sealed: unhex(t, v.Sealed)}, &s.Chirp)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, s) {
				t.Errorf("opened %+v, want %+v", got, s)
			}
		})
	}
}

// TestSealedFieldsCoverSighting fails when a field is added to Sighting
// without an entry in sealedFields: a sealed log would drop it.
func TestSealedFieldsCoverSighting(t *testing.T) {
	covered := map[string]bool{"Chirp": true, "Minute": true} // the key and the clear minute
	ids := map[byte]bool{}
	last := byte(0)
	for _, f := range sealedFields {
		covered[f.name] = true
		if ids[f.id] || f.id <= last {
			t.Errorf("field %s: id %d repeated or out of order", f.name, f.id)
		}
		ids[f.id], last = true, f.id
	}
	st := reflect.TypeFor[Sighting]()
	for i := range st.NumField() {
		if name := st.Field(i).Name; !covered[name] {
			t.Errorf("Sighting.%s is not sealed: add it to sealedFields", name)
		}
	}
	for _, f := range sealedFields {
		if _, ok := st.FieldByName(f.name); !ok {
			t.Errorf("sealedFields names %s, which Sighting lacks", f.name)
		}
	}
}

func TestOpenSightingRefuses(t *testing.T) {
	s := Sighting{Chirp: chirpOf(1), Minute: 1000, RSSI: -60, Source: SourcePACT, Location: &Location{Lat: 1, Lon: 2}}
	ss, err := SealSighting(&s, nil)
	if err != nil {
		t.Fatal(err)
	}
	other := chirpOf(2)
	flipped := bytes.Clone(ss.Sealed)
	flipped[len(flipped)-1] ^= 1
	for _, tc := range []struct {
		name  string
		ss    SealedSighting
		chirp Chirp
	}{
		{"another chirp", ss, other},
		{"another chirp's tag", SealedSighting{Minute: ss.Minute, Tag: ContactTag(&other), Sealed: ss.Sealed}, other},
		{"moved to another minute", SealedSighting{Minute: ss.Minute + 1, Tag: ss.Tag, Sealed: ss.Sealed}, s.Chirp},
		{"changed on disk", SealedSighting{Minute: ss.Minute, Tag: ss.Tag, Sealed: flipped}, s.Chirp},
		{"truncated", SealedSighting{Minute: ss.Minute, Tag: ss.Tag, Sealed: ss.Sealed[:SealedOverhead-1]}, s.Chirp},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := OpenSighting(&tc.ss, &tc.chirp); !errors.Is(err, ErrSealedOpen) {
				t.Errorf("err %v, want ErrSealedOpen", err)
			}
		})
	}
}

func TestReadSealedFieldsRefuses(t *testing.T) {
	for _, tc := range []struct {
		name  string
		plain []byte
		field byte
	}{
		{"empty", nil, 0},
		{"version 2", []byte{2, 1, 1, 0xc0, 2, 4, 'p', 'a', 'c', 't'}, 0},
		{"missing source", []byte{1, 1, 1, 0xc0}, 2},
		{"missing rssi", []byte{1, 2, 4, 'p', 'a', 'c', 't'}, 1},
		{"rssi of two bytes", []byte{1, 1, 2, 0xc0, 0, 2, 4, 'p', 'a', 'c', 't'}, 1},
		{"unknown source", []byte{1, 1, 1, 0xc0, 2, 3, 'b', 'l', 'e'}, 2},
		{"out of order", []byte{1, 2, 4, 'p', 'a', 'c', 't', 1, 1, 0xc0}, 1},
		{"repeated", []byte{1, 1, 1, 0xc0, 1, 1, 0xc0, 2, 4, 'p', 'a', 'c', 't'}, 1},
		{"unknown id", []byte{1, 1, 1, 0xc0, 2, 4, 'p', 'a', 'c', 't', 200, 0}, 200},
		{"truncated value", []byte{1, 1, 1, 0xc0, 2, 9, 'p'}, 2},
		{"location not a position", append([]byte{1, 1, 1, 0xc0, 2, 4, 'p', 'a', 'c', 't', 3, 16}, bytes.Repeat([]byte{0x7f}, 16)...), 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s Sighting
			err := readSealedFields(tc.plain, &s)
			var fe *SealedFieldError
			if !errors.Is(err, ErrSealedEncoding) || !errors.As(err, &fe) || fe.Field != tc.field {
				t.Errorf("err %v, want ErrSealedEncoding naming field %d", err, tc.field)
			}
		})
	}
}

func chirpOf(n byte) Chirp {
	var c Chirp
	for i := range c {
		c[i] = n
	}
	return c
}

// FuzzReadSealedFields: any plaintext either decodes to a valid sighting
// that encodes back to the same bytes, or is refused with
// ErrSealedEncoding; it never panics.
func FuzzReadSealedFields(f *testing.F) {
	f.Add([]byte{1, 1, 1, 0xbd, 2, 4, 'p', 'a', 'c', 't'})
	f.Add(append([]byte{1, 1, 1, 0x7f, 2, 6, 'f', 'i', 'n', 'd', 'm', 'y', 3, 16}, make([]byte, 16)...))
	f.Fuzz(func(t *testing.T, p []byte) {
		var s Sighting
		err := readSealedFields(p, &s)
		if err != nil {
			if !errors.Is(err, ErrSealedEncoding) {
				t.Fatalf("err %v does not wrap ErrSealedEncoding", err)
			}
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("decoded an invalid sighting %+v: %v", s, err)
		}
		back, err := appendSealedFields(nil, &s)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(back, p) {
			t.Fatalf("%x decodes to %+v, which encodes to %x", p, s, back)
		}
	})
}

// TestSealedMatcherSkipsRowsThatDoNotOpen: a sealed row whose tag is a
// chirp's but whose ciphertext was changed is counted, not reported; the
// untouched row of the same tuple is.
func TestSealedMatcherSkipsRowsThatDoNotOpen(t *testing.T) {
	seed := Seed{1, 2, 3}
	const start = Minute(29_462_400)
	var sealed []SealedSighting
	for i := range Minute(2) {
		s := Sighting{Chirp: ChirpAt(&seed, start+i), Minute: start + i, RSSI: -60, Source: SourcePACT}
		ss, err := SealSighting(&s, nil)
		if err != nil {
			t.Fatal(err)
		}
		sealed = append(sealed, ss)
	}
	sealed[1].Sealed[SealedNonceSize] ^= 1
	m, err := NewSealedMatcher(slices.Values(sealed), MatchOptions{ExactMinute: true})
	if err != nil {
		t.Fatal(err)
	}
	var got []Contact
	rep, err := m.Match(TupleSeq([]Tuple{{Seed: seed, Start: start, End: start + 1}}), func(c Contact) error {
		got = append(got, c)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Heard != start || got[0].RSSI != -60 || rep.Stats.SealedUnopened != 1 {
		t.Errorf("contacts %+v, %d unopened; want the first minute only and 1 unopened", got, rep.Stats.SealedUnopened)
	}
}

// TestContactLogExactLocation: a contact log over a sealed store may keep
// the location as given (spec §9.3.5); otherwise it is coarsened (§5.2).
func TestContactLogExactLocation(t *testing.T) {
	exact := Location{Lat: 52.520008, Lon: 13.404954}
	for _, tc := range []struct {
		name  string
		exact bool
		want  Location
	}{
		{"coarsened", false, exact.Coarsen()},
		{"exact", true, exact},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			clock := &fakeClock{}
			clock.set(100)
			log := NewContactLog(NewMemStore(), ContactLogOptions{Clock: clock, KeepLocations: true, ExactLocation: tc.exact})
			loc := exact
			if _, err := log.Record(ctx, []Sighting{{Chirp: chirpOf(1), Minute: 99, RSSI: -50, Source: SourcePACT, Location: &loc}}); err != nil {
				t.Fatal(err)
			}
			var got *Location
			if err := log.Sightings(ctx, 0, 200, func(s Sighting) error { got = s.Location; return nil }); err != nil {
				t.Fatal(err)
			}
			if got == nil || *got != tc.want {
				t.Errorf("stored location %v, want %v", got, tc.want)
			}
		})
	}
}

// FuzzOpenSighting: whatever bytes a sealed row holds on disk, opening it
// either returns the sighting that was sealed or fails with ErrSealedOpen;
// it never panics.
func FuzzOpenSighting(f *testing.F) {
	s := Sighting{Chirp: chirpOf(7), Minute: 1000, RSSI: -60, Source: SourcePACT}
	ss, err := SealSighting(&s, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(ss.Sealed, uint32(ss.Minute))
	f.Add([]byte{}, uint32(0))
	f.Fuzz(func(t *testing.T, sealed []byte, minute uint32) {
		row := SealedSighting{Minute: Minute(minute), Tag: ss.Tag, Sealed: sealed}
		got, err := OpenSighting(&row, &s.Chirp)
		if err != nil {
			if !errors.Is(err, ErrSealedOpen) {
				t.Fatalf("err %v does not wrap ErrSealedOpen", err)
			}
			return
		}
		if !reflect.DeepEqual(got, s) || Minute(minute) != s.Minute {
			t.Fatalf("opened %+v at minute %d, sealed %+v", got, minute, s)
		}
	})
}
