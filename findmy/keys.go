package findmy

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"filippo.io/bigmod"
	"filippo.io/nistec"
)

// SecretSize is the length of the symmetric key SK_i that drives the
// rolling key schedule (findmy §5).
const SecretSize = 32

// Secret is one symmetric key SK_i of the schedule.
type Secret [SecretSize]byte

// String returns the secret in lowercase hex.
func (s Secret) String() string { return hex.EncodeToString(s[:]) }

// RotationPeriod is how long a device advertises one primary key (findmy §5).
const RotationPeriod = 15 * time.Minute

// Sizes of the SEC 1 encodings of a P-224 point.
const (
	// UncompressedSize is 04 || x || y.
	UncompressedSize = 1 + 2*KeySize
	// CompressedSize is 02 or 03 || x.
	CompressedSize = 1 + KeySize
)

// Errors about keys. Every error the key parsers return wraps one of them
// in a *KeyError.
var (
	// ErrKeyLength: the input has the wrong number of bytes or hex digits.
	ErrKeyLength = errors.New("wrong length")
	// ErrKeyNotHex: the input is not hexadecimal.
	ErrKeyNotHex = errors.New("not hex")
	// ErrScalarRange: a private key outside 1..n-1 of P-224.
	ErrScalarRange = errors.New("not in 1..n-1 of P-224")
	// ErrNotOnCurve: a public key that is not a point on P-224.
	ErrNotOnCurve = errors.New("not a point on P-224")
	// ErrInfinity: a schedule step that derived the point at infinity, which
	// has no x-coordinate to advertise. It happens with probability about
	// 2^-224 per key; a schedule that hits it is refused, not truncated.
	ErrInfinity = errors.New("derived key is the point at infinity")
)

// A KeyError is a key that could not be read.
type KeyError struct {
	Kind  string // "key", "private key" or "public key"
	Input string // the input, hex, clipped to 80 characters
	Err   error  // wraps one of the ErrKey... sentinels
}

func (e *KeyError) Error() string { return fmt.Sprintf("%s %q: %v", e.Kind, e.Input, e.Err) }

// Unwrap returns the reason.
func (e *KeyError) Unwrap() error { return e.Err }

func keyError(kind string, in []byte, err error) *KeyError {
	return &KeyError{Kind: kind, Input: clip(hex.EncodeToString(in)), Err: err}
}

func hexKeyError(kind, in string, err error) *KeyError {
	return &KeyError{Kind: kind, Input: clip(in), Err: err}
}

// P-224 constants (FIPS 186-4 §D.1.2.2): the order n of the base point.
// nistec has the field; the scalar arithmetic of the schedule runs on
// bigmod, which is constant-time like it.
var (
	p224N = mustModulus("ffffffffffffffffffffffffffff16a2e0b8f03e13dd29455c5c2a3d")
	// p224NMinus1 reduces the diversification halves (findmy §5.2).
	p224NMinus1 = mustModulus("ffffffffffffffffffffffffffff16a2e0b8f03e13dd29455c5c2a3c")
	// halfWidth is 2^288, a modulus larger than any 36-byte half, so that
	// the half can be held as a bigmod.Nat before its reduction.
	halfWidth = mustModulus("01" + "000000000000000000000000000000000000000000000000000000000000000000000000")
)

func mustModulus(h string) *bigmod.Modulus {
	b, err := hex.DecodeString(h)
	if err != nil {
		panic(err)
	}
	m, err := bigmod.NewModulus(b)
	if err != nil {
		panic(err)
	}
	return m
}

// KDF is the ANSI X9.63 key derivation function with SHA-256 (SEC 1 v2
// §3.6.1): SHA-256(z || counter || info) for counter = 1, 2, ... (32-bit
// big-endian), concatenated and cut to n bytes.
func KDF(z, info []byte, n int) []byte {
	out := make([]byte, 0, n+sha256.Size)
	var ctr [4]byte
	for i := uint32(1); len(out) < n; i++ {
		binary.BigEndian.PutUint32(ctr[:], i)
		h := sha256.New()
		h.Write(z)
		h.Write(ctr[:])
		h.Write(info)
		out = h.Sum(out)
	}
	return out[:n]
}

// Next returns SK_{i+1} = KDF(SK_i, "update", 32) (findmy §5.1).
func (s Secret) Next() Secret {
	return Secret(KDF(s[:], []byte("update"), SecretSize))
}

// Advance returns the secret steps updates after s.
func (s Secret) Advance(steps uint64) Secret {
	for ; steps > 0; steps-- {
		s = s.Next()
	}
	return s
}

// Diversify returns (u, v) = KDF(SK_i, "diversify", 72), each half read as
// a big-endian integer and reduced to 1..n-1 by x mod (n-1) + 1
// (findmy §5.2), as 28-byte big-endian scalars. The reduction keeps both
// away from zero, so u*P_0 is never the point at infinity.
func (s Secret) Diversify() (u, v [KeySize]byte) {
	b := KDF(s[:], []byte("diversify"), 72)
	return diversifyHalf(b[:36]), diversifyHalf(b[36:])
}

func diversifyHalf(half []byte) [KeySize]byte {
	x, err := bigmod.NewNat().SetBytes(half, halfWidth)
	if err != nil {
		panic("findmy: 36-byte half overflows 2^288") // cannot happen: 36 bytes < 2^288
	}
	r := bigmod.NewNat().Mod(x, p224NMinus1)
	// r < n-1 < n, so it reads as a scalar mod n, and r+1 <= n-1 needs no
	// reduction.
	k, err := bigmod.NewNat().SetBytes(r.Bytes(p224NMinus1), p224N)
	if err != nil {
		panic("findmy: x mod (n-1) overflows n")
	}
	k.Add(bigmod.NewNat().SetUint(1).ExpandFor(p224N), p224N)
	return [KeySize]byte(k.Bytes(p224N))
}

// PrivateKey is a P-224 scalar d, 1 <= d < n. The zero value is not a
// key; get one from NewPrivateKey, ParsePrivateKey or Derive.
type PrivateKey struct{ d [KeySize]byte }

// PublicKey is a P-224 point other than the point at infinity. The zero
// value is not a key; get one from NewPublicKey, ParsePublicKey, Public
// or Derive.
type PublicKey struct{ q [UncompressedSize]byte }

// NewPrivateKey reads a 28-byte big-endian scalar.
func NewPrivateKey(b []byte) (PrivateKey, error) {
	if len(b) != KeySize {
		return PrivateKey{}, keyError("private key", b, fmt.Errorf("%w: want %d bytes, got %d", ErrKeyLength, KeySize, len(b)))
	}
	d, err := bigmod.NewNat().SetBytes(b, p224N)
	if err != nil || d.IsZero() == 1 {
		return PrivateKey{}, keyError("private key", b, ErrScalarRange)
	}
	return PrivateKey{d: [KeySize]byte(b)}, nil
}

// ParsePrivateKey decodes a 28-byte big-endian scalar given in hex.
func ParsePrivateKey(s string) (PrivateKey, error) {
	b, err := hex.DecodeString(s)
	if err != nil {
		return PrivateKey{}, hexKeyError("private key", s, fmt.Errorf("%w: %w", ErrKeyNotHex, err))
	}
	d, err := NewPrivateKey(b)
	if err != nil {
		return PrivateKey{}, hexKeyError("private key", s, errors.Unwrap(err))
	}
	return d, nil
}

// NewPublicKey reads a P-224 point in SEC 1 form: 57 bytes uncompressed
// (04 || x || y) or 29 bytes compressed (02 or 03 || x). The bare 28-byte
// x of an advertisement is not enough: it fixes the point only up to
// sign, and u*P_0 + v*G differs for the two.
func NewPublicKey(b []byte) (PublicKey, error) {
	if len(b) != UncompressedSize && len(b) != CompressedSize {
		return PublicKey{}, keyError("public key", b, fmt.Errorf("%w: want %d (uncompressed) or %d (compressed) bytes, got %d", ErrKeyLength, UncompressedSize, CompressedSize, len(b)))
	}
	p, err := nistec.NewP224Point().SetBytes(b)
	if err != nil {
		return PublicKey{}, keyError("public key", b, ErrNotOnCurve)
	}
	return PublicKey{q: [UncompressedSize]byte(p.Bytes())}, nil
}

// ParsePublicKey decodes a P-224 point in SEC 1 form given in hex (see
// NewPublicKey).
func ParsePublicKey(s string) (PublicKey, error) {
	b, err := hex.DecodeString(s)
	if err != nil {
		return PublicKey{}, hexKeyError("public key", s, fmt.Errorf("%w: %w", ErrKeyNotHex, err))
	}
	p, err := NewPublicKey(b)
	if err != nil {
		return PublicKey{}, hexKeyError("public key", s, errors.Unwrap(err))
	}
	return p, nil
}

// Public returns d*G; the zero PrivateKey gives the zero PublicKey.
func (d PrivateKey) Public() PublicKey {
	p, err := nistec.NewP224Point().ScalarBaseMult(d.d[:])
	if err != nil || p.IsInfinity() == 1 {
		return PublicKey{} // ScalarBaseMult fails only for a scalar not 28 bytes long
	}
	return PublicKey{q: [UncompressedSize]byte(p.Bytes())}
}

// Bytes returns the 28-byte big-endian scalar.
func (d PrivateKey) Bytes() []byte { return append([]byte(nil), d.d[:]...) }

// Equal reports whether d and e are the same scalar, in constant time.
func (d PrivateKey) Equal(e PrivateKey) bool { return subtle.ConstantTimeCompare(d.d[:], e.d[:]) == 1 }

// Key returns the advertised form of the point: its x-coordinate.
func (p PublicKey) Key() Key { return Key(p.q[1 : 1+KeySize]) }

// Bytes returns the uncompressed SEC 1 encoding, 04 || x || y.
func (p PublicKey) Bytes() []byte { return append([]byte(nil), p.q[:]...) }

// Equal reports whether p and q are the same point.
func (p PublicKey) Equal(q PublicKey) bool { return p.q == q.q }

// Derive returns d_i = d_0*u + v mod n for the secret SK_i (findmy §5.3).
// It fails with ErrInfinity when d_i is zero.
func (d PrivateKey) Derive(sk Secret) (PrivateKey, error) {
	u, v := sk.Diversify()
	di, err := bigmod.NewNat().SetBytes(d.d[:], p224N)
	if err != nil {
		return PrivateKey{}, keyError("private key", d.d[:], ErrScalarRange)
	}
	un, _ := bigmod.NewNat().SetBytes(u[:], p224N) // Diversify returns 1..n-1
	vn, _ := bigmod.NewNat().SetBytes(v[:], p224N)
	di.Mul(un, p224N).Add(vn, p224N)
	if di.IsZero() == 1 {
		return PrivateKey{}, ErrInfinity
	}
	return PrivateKey{d: [KeySize]byte(di.Bytes(p224N))}, nil
}

// Derive returns P_i = u*P_0 + v*G for the secret SK_i, which equals
// d_i*G without knowing d_0 (findmy §5.3). It fails with ErrInfinity when
// P_i is the point at infinity, and with ErrNotOnCurve for the zero
// PublicKey.
func (p PublicKey) Derive(sk Secret) (PublicKey, error) {
	p0, err := nistec.NewP224Point().SetBytes(p.q[:])
	if err != nil {
		return PublicKey{}, keyError("public key", p.q[:], ErrNotOnCurve)
	}
	return derivePublic(p0, sk)
}

func derivePublic(p0 *nistec.P224Point, sk Secret) (PublicKey, error) {
	u, v := sk.Diversify()
	up, err := nistec.NewP224Point().ScalarMult(p0, u[:])
	if err != nil {
		return PublicKey{}, err
	}
	vg, err := nistec.NewP224Point().ScalarBaseMult(v[:])
	if err != nil {
		return PublicKey{}, err
	}
	pi := up.Add(up, vg)
	if pi.IsInfinity() == 1 {
		return PublicKey{}, ErrInfinity
	}
	return PublicKey{q: [UncompressedSize]byte(pi.Bytes())}, nil
}

// RollingKey is one primary key of the schedule.
type RollingKey struct {
	Index  uint64
	Secret Secret
	Public PublicKey
	// Private is nil when the schedule was derived from a public key.
	Private *PrivateKey
}

// ScheduleFromPrivateKey derives the primary keys with indices from,
// from+1, ..., from+count-1 from SK_0 and the private key d_0, private
// and public halves both. Key i uses SK_i; SK_0 itself is the pairing
// secret (findmy §5). It stops at the first error fn returns and returns
// it.
func ScheduleFromPrivateKey(sk0 Secret, d0 PrivateKey, from, count uint64, fn func(RollingKey) error) error {
	sk := sk0.Advance(from)
	for i := uint64(0); i < count; i++ {
		di, err := d0.Derive(sk)
		if err != nil {
			return fmt.Errorf("findmy: key %d: %w", from+i, err)
		}
		if err := fn(RollingKey{Index: from + i, Secret: sk, Public: di.Public(), Private: &di}); err != nil {
			return err
		}
		sk = sk.Next()
	}
	return nil
}

// ScheduleFromPublicKey derives the public keys with indices from, from+1,
// ..., from+count-1 from SK_0 and the public key P_0, what a device's
// owner can publish without its private key (findmy §5.3). It stops at the
// first error fn returns and returns it.
func ScheduleFromPublicKey(sk0 Secret, p0 PublicKey, from, count uint64, fn func(RollingKey) error) error {
	p, err := nistec.NewP224Point().SetBytes(p0.q[:])
	if err != nil {
		return fmt.Errorf("findmy: schedule: %w", keyError("public key", p0.q[:], ErrNotOnCurve))
	}
	sk := sk0.Advance(from)
	for i := uint64(0); i < count; i++ {
		pi, err := derivePublic(p, sk)
		if err != nil {
			return fmt.Errorf("findmy: key %d: %w", from+i, err)
		}
		if err := fn(RollingKey{Index: from + i, Secret: sk, Public: pi}); err != nil {
			return err
		}
		sk = sk.Next()
	}
	return nil
}
