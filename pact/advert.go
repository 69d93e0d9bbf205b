package pact

import (
	"errors"
	"fmt"
)

// The native PACT chirp advertisement (spec §7) carries a 28-byte chirp in
// one legacy advertising PDU: 46 bits in the random static advertiser
// address and the other 178 bits in 31 bytes of advertising data, one
// Manufacturer Specific Data structure:
//
//	offset  0     1     2-3    4-6    7        8-29          30
//	        0x1E  0xFF  FF FF  "PCT"  version  chirp[6..27]  chirp[0]>>6
//
// and the address, most significant byte first, is
//
//	0b11 || chirp[0] low 6 bits || chirp[1..5]
//
// Because the address is made of chirp bits it changes with every chirp,
// so it cannot link two minutes of one device.

// AdvertSize is the length of the advertising data of a native chirp
// advertisement: the whole legacy payload.
const AdvertSize = 31

// AdvertVersion is the frame version this implementation writes and reads.
const AdvertVersion = 1

// AdvertCompanyID is the Manufacturer Specific Data company identifier of
// the frame, 0xFFFF: the value the Bluetooth SIG keeps for products that
// have no identifier assigned yet (spec §7.2).
const AdvertCompanyID = 0xFFFF

// advertMarker follows the company identifier and tells PACT frames from
// other users of the unassigned identifier.
var advertMarker = [3]byte{'P', 'C', 'T'}

// Frame layout (spec §7.1).
const (
	advertLen         = AdvertSize - 1
	adTypeMfrSpecific = 0xFF
	advertVersionAt   = 7
	advertChirpAt     = 8
	advertTopBitsAt   = 30
	advertAddrBytes   = 6
)

var (
	// ErrNotAdvert: the data holds no PACT Manufacturer Specific Data. It
	// is returned unwrapped so a scanner can reject foreign frames cheaply.
	ErrNotAdvert = errors.New("pact: not a native PACT chirp advertisement")
	// ErrAdvertMalformed is wrapped by every error about a broken frame.
	ErrAdvertMalformed = errors.New("malformed PACT chirp advertisement")
)

// EncodeAdvert returns the random static address (display order, most
// significant byte first) and the advertising data that carry chirp c
// (spec §7.1).
func EncodeAdvert(c Chirp) (addr [6]byte, ad []byte) {
	copy(addr[:], c[:advertAddrBytes])
	addr[0] |= 0xC0
	ad = make([]byte, AdvertSize)
	ad[0] = advertLen
	ad[1] = adTypeMfrSpecific
	ad[2], ad[3] = AdvertCompanyID&0xFF, AdvertCompanyID>>8
	copy(ad[4:7], advertMarker[:])
	ad[advertVersionAt] = AdvertVersion
	copy(ad[advertChirpAt:advertTopBitsAt], c[advertAddrBytes:])
	ad[advertTopBitsAt] = c[0] >> 6
	return addr, ad
}

// ParseAdvert recovers the chirp from a native chirp advertisement sent
// from addr (display order) with advertising data ad (spec §7.3). Other AD
// structures may precede or follow the PACT one. It returns ErrNotAdvert
// unwrapped when there is no PACT structure; every other error wraps
// ErrAdvertMalformed and names the field and value at fault.
func ParseAdvert(addr [6]byte, ad []byte) (Chirp, error) {
	for i := 0; i < len(ad); {
		n := int(ad[i])
		if n == 0 {
			break // the rest is padding (Core spec Vol 3 Part C §11)
		}
		if i+1+n > len(ad) {
			return Chirp{}, fmt.Errorf("pact advert: AD structure at offset %d: length %d overruns the %d bytes of data: %w", i, n, len(ad), ErrAdvertMalformed)
		}
		s := ad[i : i+1+n]
		i += 1 + n
		if n < 6 || s[1] != adTypeMfrSpecific || s[2] != AdvertCompanyID&0xFF || s[3] != AdvertCompanyID>>8 || [3]byte(s[4:7]) != advertMarker {
			continue
		}
		return advertChirp(addr, s)
	}
	return Chirp{}, ErrNotAdvert
}

// advertChirp decodes one PACT structure s, length byte included.
func advertChirp(addr [6]byte, s []byte) (Chirp, error) {
	if len(s) < advertChirpAt {
		return Chirp{}, fmt.Errorf("pact advert: structure of %d bytes has no version byte: %w", len(s), ErrAdvertMalformed)
	}
	if v := s[advertVersionAt]; v != AdvertVersion {
		return Chirp{}, fmt.Errorf("pact advert: version %d, this implementation reads version %d: %w", v, AdvertVersion, ErrAdvertMalformed)
	}
	if len(s) != AdvertSize {
		return Chirp{}, fmt.Errorf("pact advert: version %d structure length %d, want %d: %w", AdvertVersion, len(s)-1, advertLen, ErrAdvertMalformed)
	}
	if top := s[advertTopBitsAt]; top > 3 {
		return Chirp{}, fmt.Errorf("pact advert: top-bits byte 0x%02x has reserved bits set: %w", top, ErrAdvertMalformed)
	}
	if addr[0]>>6 != 3 {
		return Chirp{}, fmt.Errorf("pact advert: address %02X:%02X:%02X:%02X:%02X:%02X is not a random static address (top bits 0b%02b, want 0b11): %w",
			addr[0], addr[1], addr[2], addr[3], addr[4], addr[5], addr[0]>>6, ErrAdvertMalformed)
	}
	var c Chirp
	c[0] = s[advertTopBitsAt]<<6 | addr[0]&0x3F
	copy(c[1:advertAddrBytes], addr[1:])
	copy(c[advertAddrBytes:], s[advertChirpAt:advertTopBitsAt])
	return c, nil
}

// AdvertAddressUsable reports whether addr, as EncodeAdvert made it, is a
// valid random static address: its 46 random bits are neither all zero nor
// all one. A sender stays silent for a minute whose chirp gives an unusable
// address (spec §7.4); it happens with probability 2^-45.
func AdvertAddressUsable(addr [6]byte) bool {
	rest := addr[1] & addr[2] & addr[3] & addr[4] & addr[5]
	some := addr[1] | addr[2] | addr[3] | addr[4] | addr[5]
	low := addr[0] & 0x3F
	return !(low == 0 && some == 0) && !(low == 0x3F && rest == 0xFF)
}
