package findmy

import (
	"crypto/elliptic"
	"crypto/sha256"
	"testing"
)

func benchKeys(n int) []Key {
	keys := make([]Key, n)
	h := sha256.Sum256([]byte("bench"))
	for i := range keys {
		h = sha256.Sum256(h[:])
		copy(keys[i][:], h[:])
	}
	return keys
}

// BenchmarkOnCurve is the cost of one uncached check.
func BenchmarkOnCurve(b *testing.B) {
	keys := benchKeys(1024)
	var c curveScratch
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		c.onCurve(&keys[i&1023])
	}
}

// BenchmarkOnCurveDecompress is the alternative the package does not use:
// point decompression through crypto/elliptic, which takes a square root.
func BenchmarkOnCurveDecompress(b *testing.B) {
	keys := benchKeys(1024)
	buf := make([]byte, 29)
	buf[0] = 2
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		copy(buf[1:], keys[i&1023][:])
		elliptic.UnmarshalCompressed(elliptic.P224(), buf)
	}
}

// BenchmarkValidatorCached is a scanner's common case: a key heard before.
func BenchmarkValidatorCached(b *testing.B) {
	keys := benchKeys(256)
	v := NewValidator(4096)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		v.Valid(&keys[i&255])
	}
}

func BenchmarkParseFull(b *testing.B) {
	keys := benchKeys(1)
	addr, ad := EncodeFull(keys[0], MakeStatus(BatteryFull, DeviceAirTag, false), 0xE0)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(addr, ad[:]); err != nil {
			b.Fatal(err)
		}
	}
}
