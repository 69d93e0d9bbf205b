package pact

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	"golang.org/x/crypto/chacha20poly1305"
)

// Local information hiding (spec §9.3). A device that hears a chirp keeps
// only what the matcher needs to find it again, the minute and a lookup
// tag, and seals every other field of the sighting under a key derived
// from the whole chirp. It then forgets the chirp. Only someone who holds
// the chirp, because they heard it too or computed it from an uploaded
// seed, can open the row.

// TagSize is the length of a contact tag in bytes.
const TagSize = 16

// Tag is the lookup tag of a chirp or Find My key in a sealed contact log
// (spec §9.3.1): the chirp's first TagClearBytes bytes, then the first 14
// bytes of SHA-256(tagLabel || 0x00 || chirp).
type Tag [TagSize]byte

// TagClearBytes is how many bytes of the chirp a tag carries as they are.
// They let the matcher reject almost every computed chirp before hashing
// it; 208 bits of the chirp stay unknown (spec §9.3.6).
const TagClearBytes = 2

// Labels of spec §9.3.1. Each is followed by a zero byte wherever it is
// used, so no label is a prefix of another's input.
const (
	tagLabel    = "PACT v0.1 contact tag"
	keyLabel    = "PACT v0.1 contact metadata key"
	sealedLabel = "PACT v0.1 sealed contact"
)

// Sealed-row layout (spec §9.3.2): nonce || ciphertext || Poly1305 tag.
const (
	// SealedNonceSize is the XChaCha20-Poly1305 nonce stored at the start
	// of a sealed row.
	SealedNonceSize = chacha20poly1305.NonceSizeX
	// SealedOverhead is how many bytes sealing adds to the plaintext.
	SealedOverhead = SealedNonceSize + chacha20poly1305.Overhead
	// sealedVersion is the first plaintext byte of the encoding below.
	sealedVersion = 1
)

// Errors of OpenSighting, wrapped with what failed.
var (
	// ErrSealedOpen is a sealed row that does not open under the chirp's
	// key: another chirp's row, or a row changed on disk.
	ErrSealedOpen = errors.New("sealed sighting does not open under this chirp")
	// ErrSealedEncoding is a plaintext that opened but does not read as a
	// sighting: an unknown version or field, a field out of order, of the
	// wrong length or with an invalid value.
	ErrSealedEncoding = errors.New("sealed sighting encoding")
)

// ContactTag returns the lookup tag of c (spec §9.3.1).
func ContactTag(c *Chirp) Tag {
	var buf [len(tagLabel) + 1 + ChirpSize]byte
	n := copy(buf[:], tagLabel)
	copy(buf[n+1:], c[:])
	sum := sha256.Sum256(buf[:])
	var t Tag
	copy(t[:], c[:TagClearBytes])
	copy(t[TagClearBytes:], sum[:])
	return t
}

// sealingKey returns the sealing key of c: HMAC-SHA256 keyed with keyLabel
// over c, that is HKDF-Extract with keyLabel as the salt (spec §9.3.1).
// The 32-byte result is the key itself: an Expand step would add a second
// HMAC for a key of the hash's own length, the cost that mattered most
// when sealing (docs/performance.md).
func sealingKey(c *Chirp) ([]byte, error) {
	mac := hmac.New(sha256.New, []byte(keyLabel))
	mac.Write(c[:])
	return mac.Sum(make([]byte, 0, chacha20poly1305.KeySize)), nil
}

// sealedAD binds a sealed row to its minute and tag: a row copied to
// another minute or tag does not open.
func sealedAD(m Minute, t *Tag) []byte {
	ad := make([]byte, 0, len(sealedLabel)+1+4+TagSize)
	ad = append(ad, sealedLabel...)
	ad = append(ad, 0)
	ad = binary.BigEndian.AppendUint32(ad, uint32(m))
	return append(ad, t[:]...)
}

// SealedSighting is one row of a sealed contact log (spec §9.3.2).
type SealedSighting struct {
	Minute Minute
	Tag    Tag
	// Sealed is the nonce, the ciphertext of the sighting's other fields
	// and the Poly1305 tag.
	Sealed []byte
}

// SealSighting seals s: its minute and tag stay in the clear, every other
// field except the chirp is encrypted under the chirp's key. The nonce is
// read from r, crypto/rand.Reader when nil.
func SealSighting(s *Sighting, r io.Reader) (SealedSighting, error) {
	if r == nil {
		r = rand.Reader
	}
	var nonce [SealedNonceSize]byte
	if _, err := io.ReadFull(r, nonce[:]); err != nil {
		return SealedSighting{}, fmt.Errorf("pact: drawing a nonce to seal a sighting: %w", err)
	}
	return SealSightingNonce(s, &nonce)
}

// SealSightingNonce is SealSighting with a given nonce, for test vectors and
// callers that draw nonces in bulk. A nonce must never be used twice with
// the same chirp.
func SealSightingNonce(s *Sighting, nonce *[SealedNonceSize]byte) (SealedSighting, error) {
	if err := s.Validate(); err != nil {
		return SealedSighting{}, fmt.Errorf("pact: sealing: %w", err)
	}
	key, err := sealingKey(&s.Chirp)
	if err != nil {
		return SealedSighting{}, fmt.Errorf("pact: sealing: deriving the key: %w", err)
	}
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return SealedSighting{}, fmt.Errorf("pact: sealing: %w", err)
	}
	tag := ContactTag(&s.Chirp)
	plain, err := appendSealedFields(make([]byte, 0, 64), s)
	if err != nil {
		return SealedSighting{}, err
	}
	out := make([]byte, SealedNonceSize, SealedOverhead+len(plain))
	copy(out, nonce[:])
	out = aead.Seal(out, nonce[:], plain, sealedAD(s.Minute, &tag))
	return SealedSighting{Minute: s.Minute, Tag: tag, Sealed: out}, nil
}

// OpenSighting opens ss with chirp c and returns the whole sighting. It
// fails with ErrSealedOpen unless ss was sealed from c at its minute and
// tag.
func OpenSighting(ss *SealedSighting, c *Chirp) (Sighting, error) {
	if ContactTag(c) != ss.Tag {
		return Sighting{}, fmt.Errorf("pact: opening the sighting at minute %d: tag %x is not the chirp's: %w", ss.Minute, ss.Tag[:], ErrSealedOpen)
	}
	if len(ss.Sealed) < SealedOverhead {
		return Sighting{}, fmt.Errorf("pact: opening the sighting at minute %d: %d sealed bytes, want at least %d: %w",
			ss.Minute, len(ss.Sealed), SealedOverhead, ErrSealedOpen)
	}
	key, err := sealingKey(c)
	if err != nil {
		return Sighting{}, fmt.Errorf("pact: opening: deriving the key: %w", err)
	}
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return Sighting{}, fmt.Errorf("pact: opening: %w", err)
	}
	nonce, box := ss.Sealed[:SealedNonceSize], ss.Sealed[SealedNonceSize:]
	plain, err := aead.Open(nil, nonce, box, sealedAD(ss.Minute, &ss.Tag))
	if err != nil {
		return Sighting{}, fmt.Errorf("pact: opening the sighting at minute %d with tag %x: %w", ss.Minute, ss.Tag[:], ErrSealedOpen)
	}
	s := Sighting{Chirp: *c, Minute: ss.Minute}
	if err := readSealedFields(plain, &s); err != nil {
		return Sighting{}, err
	}
	return s, nil
}

// sealedField is one field of the sealed encoding (spec §9.3.2): an id, its
// name in Sighting, and how it is written and read. A field added to
// Sighting gets the next id here; TestSealedFieldsCoverSighting fails until
// it does. A field at its default may be left out (put returns ok false),
// so rows sealed before the field existed read as that default: the zero
// value, except TxPower, whose default is TxPowerUnknown.
type sealedField struct {
	id   byte
	name string
	put  func(s *Sighting, dst []byte) (out []byte, ok bool)
	get  func(s *Sighting, v []byte) error
}

var sealedFields = []sealedField{
	{1, "RSSI",
		func(s *Sighting, dst []byte) ([]byte, bool) { return append(dst, byte(s.RSSI)), true },
		func(s *Sighting, v []byte) error {
			if len(v) != 1 {
				return errFieldLength
			}
			s.RSSI = int8(v[0])
			return nil
		}},
	{2, "Source",
		func(s *Sighting, dst []byte) ([]byte, bool) { return append(dst, s.Source...), true },
		func(s *Sighting, v []byte) error {
			s.Source = Source(v)
			if !s.Source.Valid() {
				return ErrSource
			}
			return nil
		}},
	{3, "Location",
		func(s *Sighting, dst []byte) ([]byte, bool) {
			if s.Location == nil {
				return dst, false
			}
			dst = binary.BigEndian.AppendUint64(dst, math.Float64bits(s.Location.Lat))
			return binary.BigEndian.AppendUint64(dst, math.Float64bits(s.Location.Lon)), true
		},
		func(s *Sighting, v []byte) error {
			if len(v) != 16 {
				return errFieldLength
			}
			l := Location{Lat: math.Float64frombits(binary.BigEndian.Uint64(v)), Lon: math.Float64frombits(binary.BigEndian.Uint64(v[8:]))}
			if err := l.Validate(); err != nil {
				return err
			}
			s.Location = &l
			return nil
		}},
	{4, "TxPower",
		func(s *Sighting, dst []byte) ([]byte, bool) {
			if s.TxPower == TxPowerUnknown {
				return dst, false
			}
			return append(dst, byte(s.TxPower)), true
		},
		func(s *Sighting, v []byte) error {
			if len(v) != 1 {
				return errFieldLength
			}
			tx := int8(v[0])
			if tx == TxPowerUnknown || tx < TxPowerMin || tx > TxPowerMax {
				// Unknown is written by leaving the field out.
				return fmt.Errorf("TX power %d dBm: %w", tx, ErrTxPower)
			}
			s.TxPower = tx
			return nil
		}},
}

var errFieldLength = errors.New("wrong length")

// SealedFieldError is a sealed plaintext that does not decode: the field
// id at fault (0 for the version byte) and why.
type SealedFieldError struct {
	Field byte
	Err   error
}

func (e *SealedFieldError) Error() string {
	return fmt.Sprintf("pact: sealed sighting field %d: %v", e.Field, e.Err)
}

// Unwrap returns ErrSealedEncoding and the cause.
func (e *SealedFieldError) Unwrap() []error { return []error{ErrSealedEncoding, e.Err} }

// appendSealedFields writes the plaintext of spec §9.3.2: the version, then
// per field in increasing id order its id, a one-byte length and the value.
func appendSealedFields(dst []byte, s *Sighting) ([]byte, error) {
	dst = append(dst, sealedVersion)
	for _, f := range sealedFields {
		at := len(dst)
		dst = append(dst, f.id, 0)
		var ok bool
		dst, ok = f.put(s, dst)
		if !ok {
			dst = dst[:at]
			continue
		}
		n := len(dst) - at - 2
		if n > 255 {
			return nil, &SealedFieldError{Field: f.id, Err: fmt.Errorf("value of %d bytes exceeds 255: %w", n, errFieldLength)}
		}
		dst[at+1] = byte(n)
	}
	return dst, nil
}

// readSealedFields decodes a plaintext into s. Every field must be known,
// appear once, in increasing id order; RSSI and Source are required.
func readSealedFields(p []byte, s *Sighting) error {
	// A field left out reads as its default.
	s.TxPower, s.Location = TxPowerUnknown, nil
	if len(p) == 0 || p[0] != sealedVersion {
		v := -1
		if len(p) > 0 {
			v = int(p[0])
		}
		return &SealedFieldError{Field: 0, Err: fmt.Errorf("version %d, want %d", v, sealedVersion)}
	}
	p = p[1:]
	next := 0 // index into sealedFields of the lowest id still allowed
	seen := map[byte]bool{}
	for len(p) > 0 {
		if len(p) < 2 || len(p)-2 < int(p[1]) {
			return &SealedFieldError{Field: p[0], Err: fmt.Errorf("truncated: %w", errFieldLength)}
		}
		id, v := p[0], p[2:2+int(p[1])]
		p = p[2+int(p[1]):]
		i := next
		for i < len(sealedFields) && sealedFields[i].id != id {
			i++
		}
		if i == len(sealedFields) {
			return &SealedFieldError{Field: id, Err: errors.New("unknown, repeated or out of order")}
		}
		if err := sealedFields[i].get(s, v); err != nil {
			return &SealedFieldError{Field: id, Err: err}
		}
		seen[id] = true
		next = i + 1
	}
	for _, id := range []byte{1, 2} {
		if !seen[id] {
			return &SealedFieldError{Field: id, Err: errors.New("missing")}
		}
	}
	return nil
}
