package findmymatch

import (
	"testing"

	"github.com/pact-findmy/pact-findmy/findmy"
	"github.com/pact-findmy/pact-findmy/internal/devicedb"
)

// FuzzFramePrefix feeds arbitrary advertising data through findmy.Parse
// and checks that the prefix a short-form frame yields is read by
// PrefixMatches as docs/findmy.md §7.2 says: the key it came from matches
// on 48 bits and, seen as the address a DULT frame would use, on 46;
// changing any compared bit breaks the match, and the two top bits of
// byte 0 do not count on 46 bits.
func FuzzFramePrefix(f *testing.F) {
	f.Add([]byte{0xD5, 0x11, 0x22, 0x33, 0x44, 0x55}, []byte{0x07, 0xFF, 0x4C, 0x00, 0x12, 0x02, 0xF4, 0x03}, []byte("rest of the key......"), uint8(3))
	f.Add([]byte{0xFB, 0x6D, 0x08, 0x3D, 0x25, 0xA4}, []byte{0x07, 0xFF, 0x4C, 0x00, 0x12, 0x02, 0x10, 0x01}, []byte{}, uint8(47))
	f.Fuzz(func(t *testing.T, addrBytes, ad, rest []byte, flip uint8) {
		if len(addrBytes) != 6 {
			return
		}
		adv, err := findmy.Parse([6]byte(addrBytes), ad)
		if err != nil || adv.Form != findmy.FormShort {
			return
		}
		var key findmy.Key
		copy(key[:], adv.Prefix[:])
		copy(key[6:], rest)
		short := devicedb.PartialSighting{Prefix: adv.Prefix, Bits: devicedb.PartialBitsShort}
		dultAddr := adv.Prefix
		dultAddr[0] |= 0xC0
		dult := devicedb.PartialSighting{Prefix: dultAddr, Bits: devicedb.PartialBitsDULT}
		if !PrefixMatches(&key, &short) || !PrefixMatches(&key, &dult) {
			t.Fatalf("key %s does not match its own prefix %s (48) or %s (46)", key, short.Prefix, dult.Prefix)
		}
		bit := int(flip % 48) // bit 0 is the most significant of byte 0
		other := key
		other[bit/8] ^= 0x80 >> (bit % 8)
		if PrefixMatches(&other, &short) {
			t.Fatalf("key bit %d changed, still matches on 48 bits", bit)
		}
		if got, want := PrefixMatches(&other, &dult), bit < 2; got != want {
			t.Fatalf("key bit %d changed: matches on 46 bits = %v, want %v", bit, got, want)
		}
	})
}
