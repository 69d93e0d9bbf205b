package batch

import (
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
		{"fifteen minutes", FindMyKey{good, 90_000, 90_014}, nil},
		{"a whole day", FindMyKey{good, 90_000, 90_000 + MaxFindMyWindow - 1}, nil},
		{"longer than a day", FindMyKey{good, 90_000, 90_000 + MaxFindMyWindow}, ErrFindMyWindow},
		{"end before start", FindMyKey{good, 90_000, 89_999}, ErrFindMyWindow},
		{"future", FindMyKey{good, 99_990, 100_010}, pact.ErrFuture},
		{"past the horizon", FindMyKey{good, 49_000, 49_010}, pact.ErrExpired},
		{"not a P-224 x-coordinate", FindMyKey{offCurve, 90_000, 90_014}, ErrNotOnCurve},
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
	keys := []FindMyKey{{onCurveKey(), 10, 24}, {findmy.Key{1}, 30, 30}}
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
	long[len(long)-2] = 0xFF // a span of over a day
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
	b, _ := EncodeFindMyList([]FindMyKey{{onCurveKey(), 10, 24}})
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		keys, err := DecodeFindMyList(b)
		if err != nil {
			return
		}
		again, err := EncodeFindMyList(keys)
		if err != nil || (len(b) > 0 && string(again) != string(b)) {
			t.Fatalf("decoded list does not re-encode to the same bytes: %v", err)
		}
	})
}
