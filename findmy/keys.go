package findmy

import (
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/big"
	"time"
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
// (findmy §5.2). The reduction keeps both away from zero, so P_i is never
// the point at infinity for a valid P_0.
func (s Secret) Diversify() (u, v *big.Int) {
	b := KDF(s[:], []byte("diversify"), 72)
	nm1 := new(big.Int).Sub(p224.N, big.NewInt(1))
	u = new(big.Int).SetBytes(b[:36])
	u.Mod(u, nm1).Add(u, big.NewInt(1))
	v = new(big.Int).SetBytes(b[36:])
	v.Mod(v, nm1).Add(v, big.NewInt(1))
	return u, v
}

// PrivateKey is a P-224 scalar, 1 <= d < n.
type PrivateKey struct{ D *big.Int }

// PublicKey is a P-224 point.
type PublicKey struct{ X, Y *big.Int }

// ParsePrivateKey decodes a 28-byte big-endian scalar given in hex.
func ParsePrivateKey(s string) (PrivateKey, error) {
	b, err := hex.DecodeString(s)
	if err != nil {
		return PrivateKey{}, fmt.Errorf("private key %q: %w", clip(s), err)
	}
	if len(b) != KeySize {
		return PrivateKey{}, fmt.Errorf("private key %q: want %d bytes, got %d", clip(s), KeySize, len(b))
	}
	d := new(big.Int).SetBytes(b)
	if d.Sign() == 0 || d.Cmp(p224.N) >= 0 {
		return PrivateKey{}, fmt.Errorf("private key %q: not in 1..n-1 of P-224", clip(s))
	}
	return PrivateKey{D: d}, nil
}

// ParsePublicKey decodes a P-224 point in SEC 1 form given in hex: 57 bytes
// uncompressed (04 || x || y) or 29 bytes compressed (02 or 03 || x). The
// bare 28-byte x of an advertisement is not enough: it fixes the point
// only up to sign, and u*P_0 + v*G differs for the two.
func ParsePublicKey(s string) (PublicKey, error) {
	b, err := hex.DecodeString(s)
	if err != nil {
		return PublicKey{}, fmt.Errorf("public key %q: %w", clip(s), err)
	}
	var x, y *big.Int
	switch len(b) {
	case 1 + 2*KeySize:
		x, y = elliptic.Unmarshal(elliptic.P224(), b)
	case 1 + KeySize:
		x, y = elliptic.UnmarshalCompressed(elliptic.P224(), b)
	default:
		return PublicKey{}, fmt.Errorf("public key %q: want %d (uncompressed) or %d (compressed) bytes, got %d", clip(s), 1+2*KeySize, 1+KeySize, len(b))
	}
	if x == nil {
		return PublicKey{}, fmt.Errorf("public key %q: not a point on P-224", clip(s))
	}
	return PublicKey{X: x, Y: y}, nil
}

// Public returns d*G.
func (d PrivateKey) Public() PublicKey {
	x, y := elliptic.P224().ScalarBaseMult(scalarBytes(d.D))
	return PublicKey{X: x, Y: y}
}

// Bytes returns the 28-byte big-endian scalar.
func (d PrivateKey) Bytes() []byte { return scalarBytes(d.D) }

// Key returns the advertised form of the point: its x-coordinate.
func (p PublicKey) Key() Key {
	var k Key
	p.X.FillBytes(k[:])
	return k
}

// Bytes returns the uncompressed SEC 1 encoding, 04 || x || y.
func (p PublicKey) Bytes() []byte { return elliptic.Marshal(elliptic.P224(), p.X, p.Y) }

// Derive returns d_i = d_0*u + v mod n for the secret SK_i (findmy §5.3).
func (d PrivateKey) Derive(sk Secret) PrivateKey {
	u, v := sk.Diversify()
	di := new(big.Int).Mul(d.D, u)
	di.Add(di, v).Mod(di, p224.N)
	return PrivateKey{D: di}
}

// Derive returns P_i = u*P_0 + v*G for the secret SK_i, which equals
// d_i*G without knowing d_0 (findmy §5.3).
func (p PublicKey) Derive(sk Secret) PublicKey {
	c := elliptic.P224()
	u, v := sk.Diversify()
	ux, uy := c.ScalarMult(p.X, p.Y, scalarBytes(u))
	vx, vy := c.ScalarBaseMult(scalarBytes(v))
	x, y := c.Add(ux, uy, vx, vy)
	return PublicKey{X: x, Y: y}
}

func scalarBytes(k *big.Int) []byte {
	b := make([]byte, KeySize)
	return k.FillBytes(b)
}

// RollingKey is one primary key of the schedule.
type RollingKey struct {
	Index  uint64
	Secret Secret
	Public PublicKey
	// Private is nil when the schedule was derived from a public key.
	Private *PrivateKey
}

// Schedule derives the primary keys with indices from, from+1, ...,
// from+count-1 starting from SK_0 and either the private key d_0 or the
// public key P_0 (exactly one must be set). Key i uses SK_i; SK_0 itself
// is the pairing secret (findmy §5).
func Schedule(sk0 Secret, d0 *PrivateKey, p0 *PublicKey, from, count uint64, fn func(RollingKey) error) error {
	if (d0 == nil) == (p0 == nil) {
		return fmt.Errorf("findmy: schedule needs exactly one of a private and a public key")
	}
	sk := sk0.Advance(from)
	for i := uint64(0); i < count; i++ {
		rk := RollingKey{Index: from + i, Secret: sk}
		if d0 != nil {
			di := d0.Derive(sk)
			rk.Private = &di
			rk.Public = di.Public()
		} else {
			rk.Public = p0.Derive(sk)
		}
		if err := fn(rk); err != nil {
			return err
		}
		sk = sk.Next()
	}
	return nil
}
