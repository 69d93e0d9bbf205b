package findmy

import (
	"encoding/hex"
	"errors"
	"fmt"
)

// KeySize is the length of an advertised key: the x-coordinate of a P-224
// point (findmy §2).
const KeySize = 28

// PrefixSize is how much of the key the short form carries (findmy §3.2):
// 46 bits in the address and 2 in the payload.
const PrefixSize = 6

// Key is an advertised Offline Finding public key, big-endian.
type Key [KeySize]byte

// Prefix is the first PrefixSize bytes of a Key, all that a short
// (maintained) advertisement reveals.
type Prefix [PrefixSize]byte

// String returns the key in lowercase hex.
func (k Key) String() string { return hex.EncodeToString(k[:]) }

// String returns the prefix in lowercase hex.
func (p Prefix) String() string { return hex.EncodeToString(p[:]) }

// Prefix returns the part of k that a short advertisement carries.
func (k *Key) Prefix() Prefix { return Prefix(k[:PrefixSize]) }

// ParseKey decodes a key from 56 hex digits.
func ParseKey(s string) (Key, error) {
	var k Key
	if len(s) != 2*KeySize {
		return k, hexKeyError("key", s, fmt.Errorf("%w: want %d hex digits, got %d", ErrKeyLength, 2*KeySize, len(s)))
	}
	if _, err := hex.Decode(k[:], []byte(s)); err != nil {
		return Key{}, hexKeyError("key", s, fmt.Errorf("%w: %w", ErrKeyNotHex, err))
	}
	return k, nil
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// Form tells the two Offline Finding advertisements apart (findmy §3).
type Form uint8

const (
	// FormFull is the separated-state advertisement: all 28 key bytes.
	FormFull Form = iota + 1
	// FormShort is the nearby/maintained advertisement: a 6-byte prefix.
	FormShort
)

func (f Form) String() string {
	switch f {
	case FormFull:
		return "full"
	case FormShort:
		return "short"
	}
	return fmt.Sprintf("form(%d)", uint8(f))
}

// Status is the status byte of an Offline Finding advertisement (findmy §3.3).
type Status uint8

// Battery is the battery level of bits 7-6 of the status byte.
type Battery uint8

// Battery levels.
const (
	BatteryFull Battery = iota
	BatteryMedium
	BatteryLow
	BatteryCritical
)

var batteryNames = [4]string{"full", "medium", "low", "critical"}

func (b Battery) String() string { return batteryNames[b&3] }

// DeviceType is the kind of device of bits 5-4 of the status byte.
type DeviceType uint8

// Device types.
const (
	DeviceApple     DeviceType = iota // an iPhone, iPad, Mac or Watch
	DeviceAirTag                      // an AirTag
	DeviceAccessory                   // a licensed Find My network accessory
	DeviceAirPods                     // AirPods
)

var deviceNames = [4]string{"apple", "airtag", "accessory", "airpods"}

func (d DeviceType) String() string { return deviceNames[d&3] }

// statusMaintained is bit 2: the owner's device was seen recently.
const statusMaintained = 1 << 2

// Battery returns bits 7-6.
func (s Status) Battery() Battery { return Battery(s >> 6) }

// DeviceType returns bits 5-4.
func (s Status) DeviceType() DeviceType { return DeviceType(s>>4) & 3 }

// Maintained reports bit 2: the accessory has been near its owner recently.
func (s Status) Maintained() bool { return s&statusMaintained != 0 }

// MakeStatus builds a status byte; the bits it does not set stay zero.
func MakeStatus(b Battery, d DeviceType, maintained bool) Status {
	s := Status(b&3)<<6 | Status(d&3)<<4
	if maintained {
		s |= statusMaintained
	}
	return s
}

// Advertisement is one decoded Offline Finding advertisement.
type Advertisement struct {
	Form   Form
	Status Status
	// Key is the whole advertised key; only valid for FormFull.
	Key Key
	// Prefix is the first six key bytes; valid for both forms.
	Prefix Prefix
	// Hint is the last byte of the full form. Its meaning is not public and
	// real AirTags send varying values, so it is reported, never checked.
	Hint byte
}

// Layout constants of the advertising data (findmy §3).
const (
	adTypeManufacturer = 0xFF
	appleCompanyLo     = 0x4C // company identifier 0x004C, little-endian
	appleCompanyHi     = 0x00
	appleTypeOF        = 0x12 // Apple's Offline Finding payload type
	fullPayloadLen     = 25   // status, key[6..27], key[0]>>6, hint
	shortPayloadLen    = 2    // status, key[0]>>6
	// FullADSize is the length of the full form's advertising data.
	FullADSize = 31
	// ShortADSize is the length of the short form's advertising data.
	ShortADSize = 8
)

// Sentinel errors. Parse returns ErrNotApple and ErrNotOfflineFinding
// unwrapped for the common "not for us" cases, so that a scanner can reject
// foreign frames without allocating; every other error is a *FrameError.
var (
	// ErrNotApple: no manufacturer-specific data from company 0x004C.
	ErrNotApple = errors.New("findmy: no Apple manufacturer data")
	// ErrNotOfflineFinding: Apple data, but none of type 0x12.
	ErrNotOfflineFinding = errors.New("findmy: Apple data without an Offline Finding payload")
	// ErrMalformed is wrapped by every error about a broken frame.
	ErrMalformed = errors.New("malformed advertisement")

	// ErrADOverrun: an AD structure claims more bytes than the data holds.
	ErrADOverrun = fmt.Errorf("AD structure overruns the data: %w", ErrMalformed)
	// ErrItemTruncated: Apple data ends inside an item's type and length.
	ErrItemTruncated = fmt.Errorf("item in Apple data without a type and a length: %w", ErrMalformed)
	// ErrItemOverrun: an Apple item claims more bytes than its AD structure holds.
	ErrItemOverrun = fmt.Errorf("item in Apple data overruns its AD structure: %w", ErrMalformed)
	// ErrPayloadLength: an Offline Finding item that is neither 25 (full)
	// nor 2 (short) bytes long.
	ErrPayloadLength = fmt.Errorf("payload of type 0x12 neither %d (full) nor %d (short) bytes: %w", fullPayloadLen, shortPayloadLen, ErrMalformed)
)

// A FrameError says what is broken in an advertisement and where.
type FrameError struct {
	// Offset is where the broken part starts in the advertising data.
	Offset int
	// Length is the length the part claims: of the AD structure or Apple
	// item, or of the Offline Finding payload; for ErrItemTruncated, the
	// byte(s) left.
	Length int
	// Left is how many bytes were there for it to fit in.
	Left int
	// Err is ErrADOverrun, ErrItemTruncated, ErrItemOverrun,
	// ErrPayloadLength or ErrDULTLength, each of which wraps ErrMalformed.
	Err error
}

func (e *FrameError) Error() string {
	var what string
	switch e.Err {
	case ErrADOverrun:
		what = fmt.Sprintf("AD structure length %d overruns the %d byte(s) left", e.Length, e.Left)
	case ErrItemTruncated:
		what = fmt.Sprintf("Apple item cut short: %d byte(s) left, want a type and a length", e.Left)
	case ErrItemOverrun:
		what = fmt.Sprintf("Apple item length %d overruns the %d byte(s) left", e.Length, e.Left)
	case ErrPayloadLength:
		what = fmt.Sprintf("Offline Finding payload length %d, want %d (full) or %d (short)", e.Length, fullPayloadLen, shortPayloadLen)
	case ErrDULTLength:
		what = fmt.Sprintf("DULT service data length %d, want %d to %d", e.Length, dultFixedLen, dultFixedLen+DULTMaxProprietary)
	default:
		what = fmt.Sprintf("length %d, %d byte(s) left: %v", e.Length, e.Left, e.Err)
	}
	return fmt.Sprintf("findmy: at offset %d: %s: %v", e.Offset, what, ErrMalformed)
}

// Unwrap returns the reason.
func (e *FrameError) Unwrap() error { return e.Err }

// Parse decodes the Offline Finding advertisement in the advertising data
// ad sent from address addr (display order, most significant byte first,
// "FB:6D:08:3D:25:A4" is {0xFB, 0x6D, ...}) (findmy §3).
//
// It walks every AD structure, so the frame may share the data with others
// (as it can in an extended advertisement). ErrNotApple and
// ErrNotOfflineFinding are returned as they are; every other error wraps
// ErrMalformed and names the field at fault.
func Parse(addr [6]byte, ad []byte) (Advertisement, error) {
	apple := false
	for i := 0; i < len(ad); {
		n := int(ad[i])
		if n == 0 {
			// A zero length ends the significant part (Core spec Vol 3
			// Part C §11); what follows is padding.
			break
		}
		if i+1+n > len(ad) {
			return Advertisement{}, &FrameError{Offset: i, Length: n, Left: len(ad) - i - 1, Err: ErrADOverrun}
		}
		body := ad[i+1 : i+1+n]
		i += 1 + n
		if body[0] != adTypeManufacturer || n < 3 || body[1] != appleCompanyLo || body[2] != appleCompanyHi {
			continue
		}
		apple = true
		a, found, err := parseApple(addr, body[3:], i-n+3)
		if err != nil || found {
			return a, err
		}
	}
	if apple {
		return Advertisement{}, ErrNotOfflineFinding
	}
	return Advertisement{}, ErrNotApple
}

// parseApple walks the type-length-value items of Apple's manufacturer
// data looking for the Offline Finding item; base is the offset of p in
// the advertising data.
func parseApple(addr [6]byte, p []byte, base int) (Advertisement, bool, error) {
	for j := 0; j < len(p); {
		if j+2 > len(p) {
			return Advertisement{}, false, &FrameError{Offset: base + j, Length: len(p) - j, Left: len(p) - j, Err: ErrItemTruncated}
		}
		typ, n := p[j], int(p[j+1])
		if j+2+n > len(p) {
			return Advertisement{}, false, &FrameError{Offset: base + j, Length: n, Left: len(p) - j - 2, Err: ErrItemOverrun}
		}
		v := p[j+2 : j+2+n]
		j += 2 + n
		if typ != appleTypeOF {
			continue
		}
		var a Advertisement
		switch n {
		case fullPayloadLen:
			a.Form = FormFull
			a.Status = Status(v[0])
			a.Key = keyFrom(addr, v[23])
			copy(a.Key[6:], v[1:23])
			a.Hint = v[24]
			a.Prefix = a.Key.Prefix()
		case shortPayloadLen:
			a.Form = FormShort
			a.Status = Status(v[0])
			k := keyFrom(addr, v[1])
			a.Prefix = k.Prefix()
		default:
			return Advertisement{}, false, &FrameError{Offset: base + j - n, Length: n, Left: n, Err: ErrPayloadLength}
		}
		return a, true, nil
	}
	return Advertisement{}, false, nil
}

// keyFrom fills the first six key bytes from the address and the two bits
// the payload carries for the address bits that are forced to 0b11.
// Only the low two bits of top are used: the rest are not defined publicly.
func keyFrom(addr [6]byte, top byte) Key {
	var k Key
	k[0] = (top&3)<<6 | addr[0]&0x3F
	copy(k[1:6], addr[1:6])
	return k
}

// addrFrom is the random static address that carries key bytes 0..5, with
// its two most significant bits set as a static address requires.
func addrFrom(p []byte) [6]byte {
	var a [6]byte
	copy(a[:], p[:6])
	a[0] |= 0xC0
	return a
}

// EncodeFull returns the address (display order) and the 31 bytes of
// advertising data of the full form for key k (findmy §3.1).
func EncodeFull(k Key, s Status, hint byte) (addr [6]byte, ad [FullADSize]byte) {
	addr = addrFrom(k[:])
	ad[0] = FullADSize - 1
	ad[1] = adTypeManufacturer
	ad[2], ad[3] = appleCompanyLo, appleCompanyHi
	ad[4], ad[5] = appleTypeOF, fullPayloadLen
	ad[6] = byte(s)
	copy(ad[7:29], k[6:])
	ad[29] = k[0] >> 6
	ad[30] = hint
	return addr, ad
}

// EncodeShort returns the address and the 8 bytes of advertising data of
// the short (maintained) form for a key with prefix p (findmy §3.2).
func EncodeShort(p Prefix, s Status) (addr [6]byte, ad [ShortADSize]byte) {
	addr = addrFrom(p[:])
	ad[0] = ShortADSize - 1
	ad[1] = adTypeManufacturer
	ad[2], ad[3] = appleCompanyLo, appleCompanyHi
	ad[4], ad[5] = appleTypeOF, shortPayloadLen
	ad[6] = byte(s)
	ad[7] = p[0] >> 6
	return addr, ad
}
