package pact

import (
	"crypto/rand"
	"fmt"
	"io"
)

// The native PACT frame version 2 (docs/native-frame.md §7.6) is one
// Service Data - 128-bit UUID structure sent in extended advertising from a
// non-resolvable private address that changes with the chirp:
//
//	offset  0        1     2-17               18           19-46         47        48
//	        len      0x21  FrameUUID (LE)     0x20|flags   chirp or key  TX power  age (repeated only)
//
// Unlike version 1 it needs no company identifier and no address bits, so
// a phone OS can send it and a product can ship it.

// FrameKind says what the 28 bytes of a frame are.
type FrameKind uint8

// Frame kinds (docs/native-frame.md §7.6.1).
const (
	FrameChirp     FrameKind = 0 // a PACT chirp (spec §4)
	FrameFindMyKey FrameKind = 1 // a Find My key, only inside a repeated frame (spec §9.1)
)

// TxPowerUnknown is the TX power octet of a sender that does not know its
// radiated power; it is the HCI "no preference / not available" value 0x7F
// (Core spec Vol 4 Part E §7.8.53).
const TxPowerUnknown int8 = 127

// Limits of a known TX power, the range HCI gives a controller's
// advertising TX power (Core spec Vol 4 Part E §7.8.53).
const (
	TxPowerMin int8 = -127
	TxPowerMax int8 = 20
)

// FrameVersion is the version nibble of a version-2 frame.
const FrameVersion = 2

// FrameUUID is the 128-bit service UUID of the version-2 frame,
// 86111c4f-b36d-4f62-a163-d87b76273aea, a random (version 4) UUID that
// needs no assignment by the Bluetooth SIG (docs/native-frame.md §7.6.2).
// On the air it is sent least significant byte first (Core Specification
// Supplement Part A §1.11).
const FrameUUID = "86111c4f-b36d-4f62-a163-d87b76273aea"

// frameUUIDLE is FrameUUID in air order, least significant byte first.
var frameUUIDLE = [16]byte{0xea, 0x3a, 0x27, 0x76, 0x7b, 0xd8, 0x63, 0xa1, 0x62, 0x4f, 0x6d, 0xb3, 0x4f, 0x1c, 0x11, 0x86}

// Frame layout (docs/native-frame.md §7.6.1), offsets into the service data
// that follows the UUID.
const (
	adTypeServiceData128 = 0x21
	frameHeaderAt        = 0
	frameChirpAt         = 1
	frameTxPowerAt       = frameChirpAt + ChirpSize
	frameAgeAt           = frameTxPowerAt + 1
	framePayload         = frameAgeAt     // octets of a frame that is not repeated
	framePayloadRepeated = frameAgeAt + 1 // octets of a repeated frame

	frameFlagRepeated  = 1 << 0
	frameFlagFindMyKey = 1 << 1
	frameFlagsReserved = 0x0F &^ (frameFlagRepeated | frameFlagFindMyKey)

	// adHeaderAndUUID is the AD length octet, the AD type and the UUID.
	adHeaderAndUUID = 2 + len(frameUUIDLE)
)

// FrameADSize is the length of the AD structure of a frame that is not
// repeated; a repeated frame is one octet longer.
const FrameADSize = adHeaderAndUUID + framePayload

// AppendAD appends the AD structure of f as a version-2 frame to dst and
// returns the extended slice (docs/native-frame.md §7.6.1). The age octet
// is written only when f.Repeated. AppendAD writes whatever f holds; a
// frame whose Kind is FrameFindMyKey without Repeated does not parse.
func (f Frame) AppendAD(dst []byte) []byte {
	n := framePayload
	flags := byte(FrameVersion << 4)
	if f.Repeated {
		n = framePayloadRepeated
		flags |= frameFlagRepeated
	}
	if f.Kind == FrameFindMyKey {
		flags |= frameFlagFindMyKey
	}
	dst = append(dst, byte(1+len(frameUUIDLE)+n), adTypeServiceData128)
	dst = append(dst, frameUUIDLE[:]...)
	dst = append(dst, flags)
	dst = append(dst, f.Chirp[:]...)
	dst = append(dst, byte(f.TxPower))
	if f.Repeated {
		dst = append(dst, f.Age)
	}
	return dst
}

// Frame is one decoded version-2 frame (docs/native-frame.md §7.6).
type Frame struct {
	Chirp    Chirp     // the 28 bytes: a chirp, or a Find My key when Kind == FrameFindMyKey
	Kind     FrameKind // FrameChirp, or FrameFindMyKey inside a repeated frame
	TxPower  int8      // radiated power at the antenna in dBm, TxPowerUnknown when not calibrated
	Repeated bool      // re-broadcast by a repeater (spec §9.1)
	Age      uint8     // whole minutes since the repeater first heard it; 0 unless Repeated
}

// ParseFrame decodes the first PACT version-2 structure in the advertising
// data ad (docs/native-frame.md §7.6.3). Other AD structures may precede or
// follow it. It returns ErrNotAdvert unwrapped when there is no Service
// Data structure with FrameUUID; every other error wraps ErrAdvertMalformed
// and names the field and value at fault. The address type is checked
// separately, by CheckFrameAddress, because it is not part of the data.
func ParseFrame(ad []byte) (Frame, error) {
	for i := 0; i < len(ad); {
		n := int(ad[i])
		if n == 0 {
			break // the rest is padding (Core spec Vol 3 Part C §11)
		}
		if i+1+n > len(ad) {
			return Frame{}, fmt.Errorf("pact frame: AD structure at offset %d: length %d overruns the %d bytes of data: %w", i, n, len(ad), ErrAdvertMalformed)
		}
		s := ad[i : i+1+n]
		i += 1 + n
		if len(s) < adHeaderAndUUID || s[1] != adTypeServiceData128 || [16]byte(s[2:adHeaderAndUUID]) != frameUUIDLE {
			continue
		}
		return parseFramePayload(s[adHeaderAndUUID:])
	}
	return Frame{}, ErrNotAdvert
}

// parseFramePayload decodes the service data after the UUID.
func parseFramePayload(p []byte) (Frame, error) {
	if len(p) == 0 {
		return Frame{}, fmt.Errorf("pact frame: service data is empty, want a header octet: %w", ErrAdvertMalformed)
	}
	h := p[frameHeaderAt]
	if v := h >> 4; v != FrameVersion {
		return Frame{}, fmt.Errorf("pact frame: version %d in header 0x%02x, this implementation reads version %d: %w", v, h, FrameVersion, ErrAdvertMalformed)
	}
	if h&frameFlagsReserved != 0 {
		return Frame{}, fmt.Errorf("pact frame: header 0x%02x has reserved flag bits set: %w", h, ErrAdvertMalformed)
	}
	f := Frame{Repeated: h&frameFlagRepeated != 0}
	if h&frameFlagFindMyKey != 0 {
		if !f.Repeated {
			return Frame{}, fmt.Errorf("pact frame: header 0x%02x marks a Find My key in a frame that is not repeated: %w", h, ErrAdvertMalformed)
		}
		f.Kind = FrameFindMyKey
	}
	want := framePayload
	if f.Repeated {
		want = framePayloadRepeated
	}
	if len(p) != want {
		return Frame{}, fmt.Errorf("pact frame: %d octets of service data with header 0x%02x, want %d: %w", len(p), h, want, ErrAdvertMalformed)
	}
	copy(f.Chirp[:], p[frameChirpAt:frameTxPowerAt])
	f.TxPower = int8(p[frameTxPowerAt])
	if f.TxPower != TxPowerUnknown && (f.TxPower < TxPowerMin || f.TxPower > TxPowerMax) {
		return Frame{}, fmt.Errorf("pact frame: TX power %d dBm outside %d..%d and not %d (unknown): %w", f.TxPower, TxPowerMin, TxPowerMax, TxPowerUnknown, ErrAdvertMalformed)
	}
	if f.Repeated {
		f.Age = p[frameAgeAt]
	}
	return f, nil
}

// CheckFrameAddress checks that addr (display order, most significant byte
// first) is a non-resolvable private address, the only address a version-2
// frame may come from (Core spec Vol 6 Part B §1.3.2.2): a random address
// whose two most significant bits are 0b00 and whose 46 random bits are
// neither all zero nor all one. The error wraps ErrAdvertMalformed.
func CheckFrameAddress(addr [6]byte) error {
	if addr[0]>>6 != 0 {
		return fmt.Errorf("pact frame: address %02X:%02X:%02X:%02X:%02X:%02X is not a non-resolvable private address (top bits 0b%02b, want 0b00): %w",
			addr[0], addr[1], addr[2], addr[3], addr[4], addr[5], addr[0]>>6, ErrAdvertMalformed)
	}
	if !nrpaRandomPartUsable(addr) {
		return fmt.Errorf("pact frame: address %02X:%02X:%02X:%02X:%02X:%02X has its 46 random bits all equal: %w",
			addr[0], addr[1], addr[2], addr[3], addr[4], addr[5], ErrAdvertMalformed)
	}
	return nil
}

// nrpaRandomPartUsable reports whether the 46 random bits of addr are
// neither all zero nor all one (Core spec Vol 6 Part B §1.3.2.2).
func nrpaRandomPartUsable(addr [6]byte) bool {
	low := addr[0] & 0x3F
	all := addr[1] & addr[2] & addr[3] & addr[4] & addr[5]
	some := addr[1] | addr[2] | addr[3] | addr[4] | addr[5]
	return !(low == 0 && some == 0) && !(low == 0x3F && all == 0xFF)
}

// NewFrameAddress draws a fresh non-resolvable private address (display
// order) from r, crypto/rand.Reader when nil, for one minute of version-2
// frames (docs/native-frame.md §7.6.4). It draws again in the 2^-45 case
// that the random bits come out all zero or all one.
func NewFrameAddress(r io.Reader) ([6]byte, error) {
	if r == nil {
		r = rand.Reader
	}
	for {
		var a [6]byte
		if _, err := io.ReadFull(r, a[:]); err != nil {
			return [6]byte{}, fmt.Errorf("pact frame: drawing an address: %w", err)
		}
		a[0] &= 0x3F
		if nrpaRandomPartUsable(a) {
			return a, nil
		}
	}
}
