package batch

import (
	"bytes"
	"errors"
	"math/big"
	"slices"
	"testing"

	"github.com/pact-findmy/pact-findmy/findmy"
	"github.com/pact-findmy/pact-findmy/pact"
)

func onCurveKey() findmy.Key {
	d, err := findmy.NewPrivateKey(big.NewInt(123456789).FillBytes(make([]byte, findmy.KeySize)))
	if err != nil {
		panic(err)
	}
	return d.Public().Key()
}

func TestFindMyKeyValidate(t *testing.T) {
	good := onCurveKey()
	var offCurve findmy.Key
	for i := byte(0); ; i++ {
		offCurve[27] = i
		if !findmy.OnCurve(&offCurve) {
			break
		}
	}
	limits := pact.Limits{Now: 100_000, Skew: 2, Horizon: 50_000}
	cases := []struct {
		name string
		key  FindMyKey
		want error
	}{
		{"fifteen minutes", FindMyKey{Key: good, Start: 90_000, End: 90_014}, nil},
		{"a whole day", FindMyKey{Key: good, Start: 90_000, End: 90_000 + MaxFindMyWindow - 1}, nil},
		{"longer than a day", FindMyKey{Key: good, Start: 90_000, End: 90_000 + MaxFindMyWindow}, ErrFindMyWindow},
		{"end before start", FindMyKey{Key: good, Start: 90_000, End: 89_999}, ErrFindMyWindow},
		{"future", FindMyKey{Key: good, Start: 99_990, End: 100_010}, pact.ErrFuture},
		{"past the horizon", FindMyKey{Key: good, Start: 49_000, End: 49_010}, pact.ErrExpired},
		{"not a P-224 x-coordinate", FindMyKey{Key: offCurve, Start: 90_000, End: 90_014}, ErrNotOnCurve},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.key.Validate(limits)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("Validate = %v, want %v", err, tc.want)
			}
		})
	}
	if MaxFindMyWindow != 1440 {
		t.Errorf("ErrFindMyWindow says 1440 minutes, MaxFindMyWindow is %d", MaxFindMyWindow)
	}
}

func TestFindMyListRoundTrip(t *testing.T) {
	keys := []FindMyKey{
		{Key: onCurveKey(), Start: 10, End: 24, Secondary: true, Proof: [FindMyProofSize]byte{9, 8, 7}},
		{Key: findmy.Key{1}, Start: 30, End: 30, Reverse: true},
	}
	b, err := EncodeFindMyList(keys)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeFindMyList(b)
	if err != nil || !slices.Equal(got, keys) {
		t.Fatalf("round trip: %v, %v", got, err)
	}
	for _, bad := range [][]byte{b[:3], b[:len(b)-1], append(b, 0)} {
		if _, err := DecodeFindMyList(bad); !errors.Is(err, ErrTruncated) {
			t.Fatalf("DecodeFindMyList of %d damaged bytes = %v, want ErrTruncated", len(bad), err)
		}
	}
	long := slices.Clone(b)
	long[len(long)-FindMyEntrySize+findmy.KeySize+4] = 0xFF // a span of over a day
	if _, err := DecodeFindMyList(long); !errors.Is(err, ErrFindMyWindow) {
		t.Fatalf("DecodeFindMyList of a key kept for %d minutes = %v, want ErrFindMyWindow", 0xFF00, err)
	}
	if _, err := EncodeFindMyList([]FindMyKey{{Start: 10, End: 9}}); !errors.Is(err, ErrFindMyWindow) {
		t.Fatalf("EncodeFindMyList of a reversed window = %v, want ErrFindMyWindow", err)
	}
	if got, err := DecodeFindMyList(nil); err != nil || got != nil {
		t.Fatalf("empty list: %v, %v", got, err)
	}
}

func FuzzDecodeFindMyList(f *testing.F) {
	b, _ := EncodeFindMyList([]FindMyKey{{Key: onCurveKey(), Start: 10, End: 24, Secondary: true}})
	f.Add(b)
	f.Add(storedV1List)
	f.Fuzz(func(t *testing.T, b []byte) {
		keys, err := DecodeFindMyList(b)
		if err != nil {
			return
		}
		again, err := EncodeFindMyList(keys)
		if err != nil {
			t.Fatalf("decoded list does not re-encode: %v", err)
		}
		// A version 2 list re-encodes to its own bytes; a version 1 list
		// to the same keys.
		back, err := DecodeFindMyList(again)
		if err != nil || !slices.Equal(back, keys) {
			t.Fatalf("re-encoded list does not round-trip: %v", err)
		}
		if len(b) > 4 && len(b) != 4+len(keys)*FindMyEntrySizeV1 && string(again) != string(b) {
			t.Fatalf("decoded version 2 list does not re-encode to the same bytes")
		}
	})
}

// storedV1List is a list of one key in the 34-byte form that uploads
// stored before version 2 still hold until they are cut.
var storedV1List = slices.Concat([]byte{0, 0, 0, 1}, bytes.Repeat([]byte{0xab}, findmy.KeySize), []byte{0, 0, 0, 10, 0, 14})

func TestFindMyListReadsVersion1(t *testing.T) {
	got, err := DecodeFindMyList(storedV1List)
	if err != nil {
		t.Fatal(err)
	}
	want := FindMyKey{Start: 10, End: 24}
	copy(want.Key[:], bytes.Repeat([]byte{0xab}, findmy.KeySize))
	if len(got) != 1 || got[0] != want {
		t.Fatalf("version 1 list decoded to %+v, want %+v", got, want)
	}
	flagged, err := EncodeFindMyList([]FindMyKey{{Key: want.Key, Start: 10, End: 24}})
	if err != nil {
		t.Fatal(err)
	}
	flagged[4+FindMyEntrySizeV1] = 0x80
	if _, err := DecodeFindMyList(flagged); !errors.Is(err, ErrFindMyFlags) {
		t.Fatalf("list entry with flag bit 7 = %v, want ErrFindMyFlags", err)
	}
}
