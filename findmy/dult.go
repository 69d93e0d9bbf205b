package findmy

import (
	"errors"
	"fmt"
)

// The IETF DULT location-enabled advertisement (draft-ietf-dult-accessory-
// protocol, "Location-enabled advertisement payload format"; findmy §3.5):
// service data for the 16-bit UUID 0xFCB2, then a one-byte Network ID, a
// status byte whose least significant bit is the near-owner bit, and up to
// 22 bytes of proprietary data. An AirTag (2nd generation) sends it, with
// Network ID 0x01, instead of the Offline Finding item while it is near its
// owner; its random static address is then key bytes 0..5 with the two top
// bits set, so the frame yields a 46-bit key prefix.
const (
	adTypeServiceData16 = 0x16
	// DULTServiceUUID is the 16-bit service UUID of the DULT payload.
	DULTServiceUUID = 0xFCB2
	// dultFixedLen is the UUID, Network ID and status byte.
	dultFixedLen = 2 + 1 + 1
	// DULTMaxProprietary is the most proprietary bytes the payload format
	// allows (bytes 15-36 of the advertisement).
	DULTMaxProprietary = 22
	dultNearOwnerBit   = 0x01
)

// DULTNetwork is the Network ID of a DULT payload: the location network
// the accessory belongs to (the draft's Manufacturer Network ID Registry).
type DULTNetwork uint8

// Registered Network IDs; 0x00 and 0xFF are reserved.
const (
	DULTNetworkApple  DULTNetwork = 0x01
	DULTNetworkGoogle DULTNetwork = 0x02
)

// String names the network for counts and logs: "apple", "google", or the
// Network ID in hex ("0x05"), with "reserved-" before 0x00 and 0xFF.
func (n DULTNetwork) String() string {
	switch n {
	case DULTNetworkApple:
		return "apple"
	case DULTNetworkGoogle:
		return "google"
	case 0x00, 0xFF:
		return fmt.Sprintf("reserved-0x%02x", uint8(n))
	}
	return fmt.Sprintf("0x%02x", uint8(n))
}

// DULTAdvertisement is one decoded DULT location-enabled payload.
type DULTAdvertisement struct {
	Network DULTNetwork
	// NearOwner is the near-owner bit: the accessory is with its owner.
	NearOwner bool
	// Status is the whole status byte; bits 7-1 are reserved.
	Status byte
	// Proprietary is the network's own data after the status byte; it
	// aliases the advertising data.
	Proprietary []byte
	// KeyAddress says the address is a random static one (two top bits
	// set), as an Apple accessory derives it from its current key; then
	// Prefix holds the 46 key bits it carries.
	KeyAddress bool
	// Prefix is key bytes 0..5 taken from a key-derived address, with the
	// two top bits of byte 0, which are not key material, cleared
	// (findmy §7.2). Only meaningful when KeyAddress is set and Network is
	// DULTNetworkApple.
	Prefix Prefix
}

// Sentinel errors of ParseDULT. ErrNotDULT is returned unwrapped; the
// others wrap ErrMalformed and come inside a *FrameError.
var (
	// ErrNotDULT: no service data for UUID 0xFCB2.
	ErrNotDULT = errors.New("findmy: no DULT service data (UUID 0xFCB2)")
	// ErrDULTLength: DULT service data without a Network ID and a status
	// byte, or with more proprietary data than the format allows.
	ErrDULTLength = fmt.Errorf("DULT service data neither %d nor at most %d bytes: %w", dultFixedLen, dultFixedLen+DULTMaxProprietary, ErrMalformed)
)

// ParseDULT decodes the DULT location-enabled payload in the advertising
// data ad sent from address addr (display order) (findmy §3.5). It walks
// every AD structure and uses the first service data for UUID 0xFCB2.
// ErrNotDULT is returned as is; every other error wraps ErrMalformed and
// names the offset and length at fault.
func ParseDULT(addr [6]byte, ad []byte) (DULTAdvertisement, error) {
	for i := 0; i < len(ad); {
		n := int(ad[i])
		if n == 0 {
			break
		}
		if i+1+n > len(ad) {
			return DULTAdvertisement{}, &FrameError{Offset: i, Length: n, Left: len(ad) - i - 1, Err: ErrADOverrun}
		}
		body := ad[i+1 : i+1+n]
		at := i
		i += 1 + n
		if body[0] != adTypeServiceData16 || n < 3 || uint16(body[1])|uint16(body[2])<<8 != DULTServiceUUID {
			continue
		}
		v := body[1:]
		if len(v) < dultFixedLen || len(v) > dultFixedLen+DULTMaxProprietary {
			return DULTAdvertisement{}, &FrameError{Offset: at, Length: len(v), Left: len(v), Err: ErrDULTLength}
		}
		a := DULTAdvertisement{
			Network:     DULTNetwork(v[2]),
			Status:      v[3],
			NearOwner:   v[3]&dultNearOwnerBit != 0,
			Proprietary: v[dultFixedLen:len(v):len(v)],
			KeyAddress:  addr[0]&0xC0 == 0xC0,
		}
		if a.KeyAddress {
			copy(a.Prefix[:], addr[:])
			a.Prefix[0] &= 0x3F
		}
		return a, nil
	}
	return DULTAdvertisement{}, ErrNotDULT
}

// EncodeDULT returns the address (display order) and advertising data of a
// DULT location-enabled payload from an accessory of network n whose
// current key starts with prefix p: the random static address made from
// p, and the service data for 0xFCB2 with the near-owner bit as given and
// the proprietary bytes (at most DULTMaxProprietary).
func EncodeDULT(p Prefix, n DULTNetwork, nearOwner bool, proprietary []byte) (addr [6]byte, ad []byte, err error) {
	if len(proprietary) > DULTMaxProprietary {
		return addr, nil, fmt.Errorf("findmy: DULT payload with %d proprietary bytes, at most %d fit: %w", len(proprietary), DULTMaxProprietary, ErrDULTLength)
	}
	status := byte(0)
	if nearOwner {
		status = dultNearOwnerBit
	}
	ad = append(ad, byte(1+dultFixedLen+len(proprietary)), adTypeServiceData16, byte(DULTServiceUUID&0xFF), byte(DULTServiceUUID>>8), byte(n), status)
	return addrFrom(p[:]), append(ad, proprietary...), nil
}
