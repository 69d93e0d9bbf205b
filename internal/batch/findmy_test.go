package batch

import (
	"math/big"
	"slices"
	"strings"
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
		err  string
	}{
		{"fifteen minutes", FindMyKey{good, 90_000, 90_014}, ""},
		{"a whole day", FindMyKey{good, 90_000, 90_000 + MaxFindMyWindow - 1}, ""},
		{"longer than a day", FindMyKey{good, 90_000, 90_000 + MaxFindMyWindow}, "window"},
		{"end before start", FindMyKey{good, 90_000, 89_999}, "window"},
		{"future", FindMyKey{good, 99_990, 100_010}, "future"},
		{"past the horizon", FindMyKey{good, 49_000, 49_010}, "horizon"},
		{"not a P-224 x-coordinate", FindMyKey{offCurve, 90_000, 90_014}, "P-224"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.key.Validate(limits)
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("Validate = %v, want error containing %q", err, tc.err)
			}
		})
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
		if _, err := DecodeFindMyList(bad); err == nil {
			t.Fatalf("DecodeFindMyList accepted %d damaged bytes", len(bad))
		}
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
