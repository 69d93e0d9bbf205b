package sim

import (
	"encoding/json"
	"math"
	"testing"
)

// FuzzRatioJSON feeds arbitrary bytes to Ratio's JSON decoding: it must
// refuse or accept without panicking, and what it accepts must encode and
// decode back to the same value (NaN as null).
func FuzzRatioJSON(f *testing.F) {
	for _, s := range []string{"null", "0.5", "0", "-1e308", "1e999", `"x"`, "[]", ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Ratio
		if err := json.Unmarshal(b, &r); err != nil {
			return
		}
		out, err := json.Marshal(r)
		if err != nil {
			t.Fatalf("%s decoded to %v, which does not encode: %v", b, r, err)
		}
		var back Ratio
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("%s does not decode: %v", out, err)
		}
		if back != r && !(math.IsNaN(float64(back)) && math.IsNaN(float64(r))) {
			t.Fatalf("%s -> %v -> %s -> %v", b, r, out, back)
		}
	})
}
