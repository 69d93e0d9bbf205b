package pact

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
)

type advertCase struct {
	Name      string `json:"name"`
	Chirp     string `json:"chirp"`
	Address   string `json:"address"`
	AD        string `json:"ad"`
	Canonical bool   `json:"canonical"`
	// Reject is why a frame must be refused: not_advert (ErrNotAdvert)
	// or malformed (ErrAdvertMalformed); Error says what is wrong, for
	// the reader.
	Reject string `json:"reject"`
	Error  string `json:"error"`
}

func advertCases(t testing.TB) []advertCase {
	t.Helper()
	b, err := os.ReadFile("testdata/advert/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct{ Cases []advertCase }
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("testdata/advert/vectors.json: %v", err)
	}
	return doc.Cases
}

func advertAddr(t testing.TB, s string) [6]byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, ":", ""))
	if err != nil || len(b) != 6 {
		t.Fatalf("address %q: %v", s, err)
	}
	return [6]byte(b)
}

func TestAdvertVectors(t *testing.T) {
	for _, c := range advertCases(t) {
		t.Run(c.Name, func(t *testing.T) {
			addr := advertAddr(t, c.Address)
			ad, err := hex.DecodeString(c.AD)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseAdvert(addr, ad)
			if c.Reject != "" {
				want, ok := map[string]error{"not_advert": ErrNotAdvert, "malformed": ErrAdvertMalformed}[c.Reject]
				if !ok {
					t.Fatalf("reject %q: want not_advert or malformed", c.Reject)
				}
				if !errors.Is(err, want) || errors.Is(err, ErrNotAdvert) == errors.Is(err, ErrAdvertMalformed) {
					t.Fatalf("ParseAdvert error = %v, want %v (%s) and not the other", err, want, c.Error)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseAdvert: %v", err)
			}
			if got.String() != c.Chirp {
				t.Errorf("chirp %v, want %s", got, c.Chirp)
			}
			if c.Canonical {
				encAddr, encAD := EncodeAdvert(got)
				if encAddr != addr || !bytes.Equal(encAD, ad) {
					t.Errorf("EncodeAdvert = %X %x, want %X %x", encAddr, encAD, addr, ad)
				}
			}
		})
	}
}

// Consecutive chirps of one seed must not share an address (spec §7.4).
func TestAdvertAddressRotates(t *testing.T) {
	var seed Seed
	seed[0] = 7
	k := NewChirpKey(&seed)
	seen := map[[6]byte]Minute{}
	for m := Minute(1000); m < 1000+3*MinutesPerHour; m++ {
		addr, ad := EncodeAdvert(k.Chirp(m))
		if len(ad) != AdvertSize || addr[0]>>6 != 3 {
			t.Fatalf("minute %d: %d bytes of data, address %X", m, len(ad), addr)
		}
		if prev, ok := seen[addr]; ok {
			t.Fatalf("minutes %d and %d share address %X", prev, m, addr)
		}
		seen[addr] = m
	}
}

func FuzzParseAdvert(f *testing.F) {
	for _, c := range advertCases(f) {
		a, _ := hex.DecodeString(strings.ReplaceAll(c.Address, ":", ""))
		ad, _ := hex.DecodeString(c.AD)
		f.Add(a, ad)
	}
	f.Fuzz(func(t *testing.T, a, ad []byte) {
		var addr [6]byte
		copy(addr[:], a)
		c, err := ParseAdvert(addr, ad)
		if err != nil {
			if c != (Chirp{}) {
				t.Fatalf("error %v with chirp %v", err, c)
			}
			return
		}
		encAddr, encAD := EncodeAdvert(c)
		if encAddr != addr {
			t.Fatalf("chirp %v parsed from address %X encodes to address %X", c, addr, encAddr)
		}
		if back, err := ParseAdvert(encAddr, encAD); err != nil || back != c {
			t.Fatalf("re-encoded chirp %v parses as %v, %v", c, back, err)
		}
	})
}

func BenchmarkParseAdvert(b *testing.B) {
	addr, ad := EncodeAdvert(ChirpAt(&Seed{}, 1))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseAdvert(addr, ad); err != nil {
			b.Fatal(err)
		}
	}
}

func TestAdvertAddressUsable(t *testing.T) {
	cases := []struct {
		addr string
		want bool
	}{
		{"C0:00:00:00:00:00", false},
		{"FF:FF:FF:FF:FF:FF", false},
		{"C0:00:00:00:00:01", true},
		{"FF:FF:FF:FF:FF:FE", true},
		{"C1:00:00:00:00:00", true},
		{"CE:65:C2:F9:0B:32", true},
	}
	for _, c := range cases {
		if got := AdvertAddressUsable(advertAddr(t, c.addr)); got != c.want {
			t.Errorf("AdvertAddressUsable(%s) = %v, want %v", c.addr, got, c.want)
		}
	}
}
