package pact

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

type frameCase struct {
	Name      string `json:"name"`
	AD        string `json:"ad"`
	Chirp     string `json:"chirp"`
	Kind      string `json:"kind"`
	TxPower   int8   `json:"tx_power"`
	Repeated  bool   `json:"repeated"`
	Age       uint8  `json:"age"`
	Canonical bool   `json:"canonical"`
	// Reject is why the data must be refused: not_advert (ErrNotAdvert)
	// or malformed (ErrAdvertMalformed); Error says what is wrong, for
	// the reader.
	Reject string `json:"reject"`
	Error  string `json:"error"`
}

type frameAddressCase struct {
	Address string `json:"address"`
	NRPA    bool   `json:"nrpa"`
	Error   string `json:"error"`
}

type frameVectors struct {
	UUID      string             `json:"uuid"`
	Cases     []frameCase        `json:"cases"`
	Addresses []frameAddressCase `json:"addresses"`
}

func loadFrameVectors(t testing.TB) frameVectors {
	t.Helper()
	var v frameVectors
	loadJSON(t, "testdata/frame/vectors.json", &v)
	if v.UUID != FrameUUID {
		t.Fatalf("vectors use UUID %s, FrameUUID is %s", v.UUID, FrameUUID)
	}
	if len(v.Cases) == 0 || len(v.Addresses) == 0 {
		t.Fatal("testdata/frame/vectors.json holds no cases")
	}
	return v
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("hex %q: %v", s, err)
	}
	return b
}

// TestFrameVectors checks both directions of every vector of
// testdata/frame/vectors.json, which vectors.py builds from the spec text.
func TestFrameVectors(t *testing.T) {
	v := loadFrameVectors(t)
	for _, c := range v.Cases {
		t.Run(c.Name, func(t *testing.T) {
			ad := mustHex(t, c.AD)
			got, err := ParseFrame(ad)
			if c.Reject != "" {
				want, ok := map[string]error{"not_advert": ErrNotAdvert, "malformed": ErrAdvertMalformed}[c.Reject]
				if !ok {
					t.Fatalf("reject %q: want not_advert or malformed", c.Reject)
				}
				if !errors.Is(err, want) || errors.Is(err, ErrNotAdvert) == errors.Is(err, ErrAdvertMalformed) {
					t.Fatalf("ParseFrame error = %v, want %v (%s) and not the other", err, want, c.Error)
				}
				if got != (Frame{}) {
					t.Fatalf("ParseFrame returned %+v with its error", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseFrame: %v", err)
			}
			kind := map[string]FrameKind{"chirp": FrameChirp, "findmy_key": FrameFindMyKey}[c.Kind]
			want := Frame{Chirp: Chirp(mustHex(t, c.Chirp)), Kind: kind, TxPower: c.TxPower, Repeated: c.Repeated, Age: c.Age}
			if got != want {
				t.Fatalf("ParseFrame = %+v, want %+v", got, want)
			}
			if c.Canonical {
				if enc := want.AppendAD(nil); !bytes.Equal(enc, ad) {
					t.Fatalf("AppendAD = %x, want %x", enc, ad)
				}
			}
		})
	}
}

func TestCheckFrameAddress(t *testing.T) {
	for _, c := range loadFrameVectors(t).Addresses {
		err := CheckFrameAddress(advertAddr(t, c.Address))
		if c.NRPA != (err == nil) {
			t.Errorf("CheckFrameAddress(%s) = %v, want NRPA %v (%s)", c.Address, err, c.NRPA, c.Error)
		}
		if err != nil && !errors.Is(err, ErrAdvertMalformed) {
			t.Errorf("CheckFrameAddress(%s) = %v, want it to wrap ErrAdvertMalformed", c.Address, err)
		}
	}
}

// TestParseFrameErrors checks the sentinel and the value each rule names,
// on frames built from a good one.
func TestParseFrameErrors(t *testing.T) {
	good := Frame{Chirp: ChirpAt(&Seed{}, 0), TxPower: -8}.AppendAD(nil)
	mutate := func(at int, b byte) []byte {
		ad := bytes.Clone(good)
		ad[at] = b
		return ad
	}
	const header = adHeaderAndUUID + frameHeaderAt
	tests := []struct {
		name string
		ad   []byte
		want error
	}{
		{"nil", nil, ErrNotAdvert},
		{"v1 frame", func() []byte { _, ad := EncodeAdvert(Chirp{}); return ad }(), ErrNotAdvert},
		{"UUID first byte", mutate(2, 0xEB), ErrNotAdvert},
		{"AD type 0x20 (32-bit UUID)", mutate(1, 0x20), ErrNotAdvert},
		{"overrun", good[:len(good)-1], ErrAdvertMalformed},
		{"version 0", mutate(header, 0x00), ErrAdvertMalformed},
		{"version 15", mutate(header, 0xF0), ErrAdvertMalformed},
		{"reserved bit", mutate(header, 0x24), ErrAdvertMalformed},
		{"key not repeated", mutate(header, 0x22), ErrAdvertMalformed},
		{"repeated, no age", mutate(header, 0x21), ErrAdvertMalformed},
		{"TX power 100", mutate(len(good)-1, 100), ErrAdvertMalformed},
		{"TX power -128", mutate(len(good)-1, 0x80), ErrAdvertMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := ParseFrame(tt.ad)
			if !errors.Is(err, tt.want) || f != (Frame{}) {
				t.Fatalf("ParseFrame(%x) = %+v, %v, want %v", tt.ad, f, err, tt.want)
			}
			if tt.want == ErrNotAdvert && err != ErrNotAdvert {
				t.Fatalf("ErrNotAdvert came wrapped: %v", err)
			}
		})
	}
}

func TestFrameRoundTrip(t *testing.T) {
	k := NewChirpKey(&Seed{1})
	for _, f := range []Frame{
		{Chirp: k.Chirp(5), TxPower: TxPowerUnknown},
		{Chirp: k.Chirp(6), TxPower: TxPowerMin},
		{Chirp: k.Chirp(7), TxPower: TxPowerMax, Repeated: true, Age: 3},
		{Chirp: k.Chirp(8), TxPower: 0, Repeated: true, Kind: FrameFindMyKey, Age: 200},
	} {
		prefix := []byte{2, 1, 6}
		ad := f.AppendAD(bytes.Clone(prefix))
		if !bytes.Equal(ad[:3], prefix) {
			t.Fatalf("AppendAD changed the bytes before it: %x", ad)
		}
		if want := FrameADSize + len(prefix); f.Repeated {
			want++
			if len(ad) != want {
				t.Fatalf("repeated frame of %d bytes, want %d", len(ad), want)
			}
		} else if len(ad) != want {
			t.Fatalf("frame of %d bytes, want %d", len(ad), want)
		}
		got, err := ParseFrame(ad)
		if err != nil || got != f {
			t.Fatalf("ParseFrame(AppendAD(%+v)) = %+v, %v", f, got, err)
		}
	}
}

// Every address NewFrameAddress draws passes CheckFrameAddress, and two
// draws differ.
func TestNewFrameAddress(t *testing.T) {
	seen := map[[6]byte]bool{}
	for range 1000 {
		a, err := NewFrameAddress(nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := CheckFrameAddress(a); err != nil {
			t.Fatal(err)
		}
		if seen[a] {
			t.Fatalf("address %X drawn twice", a)
		}
		seen[a] = true
	}
	// All-zero random bits are drawn again, not returned.
	zeros := bytes.NewReader(append(make([]byte, 6), 0xC0, 1, 2, 3, 4, 5))
	a, err := NewFrameAddress(zeros)
	if err != nil || a != [6]byte{0, 1, 2, 3, 4, 5} {
		t.Fatalf("NewFrameAddress after an all-zero draw = %X, %v", a, err)
	}
	if _, err := NewFrameAddress(bytes.NewReader(nil)); err == nil {
		t.Fatal("NewFrameAddress from an empty reader succeeded")
	}
}

func FuzzParseFrame(f *testing.F) {
	for _, c := range loadFrameVectors(f).Cases {
		f.Add(mustHex(f, c.AD))
	}
	f.Fuzz(func(t *testing.T, ad []byte) {
		fr, err := ParseFrame(ad)
		if err != nil {
			if fr != (Frame{}) {
				t.Fatalf("error %v with frame %+v", err, fr)
			}
			if err != ErrNotAdvert && !errors.Is(err, ErrAdvertMalformed) {
				t.Fatalf("error %v is neither ErrNotAdvert nor ErrAdvertMalformed", err)
			}
			return
		}
		if !fr.Repeated && (fr.Age != 0 || fr.Kind != FrameChirp) {
			t.Fatalf("frame not repeated with age %d kind %d", fr.Age, fr.Kind)
		}
		back, err := ParseFrame(fr.AppendAD(nil))
		if err != nil || back != fr {
			t.Fatalf("re-encoded frame %+v parses as %+v, %v", fr, back, err)
		}
	})
}

// BenchmarkParseFrame and BenchmarkParseAdvert (advert_test.go) compare
// the version-2 and version-1 parsers on one chirp (docs/performance.md).
func BenchmarkParseFrame(b *testing.B) {
	ad := Frame{Chirp: ChirpAt(&Seed{}, 1), TxPower: -4}.AppendAD(nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseFrame(ad); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendAD(b *testing.B) {
	f := Frame{Chirp: ChirpAt(&Seed{}, 1), TxPower: -4}
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		buf = f.AppendAD(buf[:0])
	}
}
