package findmy

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"

	"filippo.io/nistec"
)

// ProofSize is the length of a proof of possession: r || s, each 28 bytes
// big-endian (findmy §8.2).
const ProofSize = 2 * KeySize

// Proof is a proof of possession of the private key of an advertised key
// for one statement (findmy §8): an ECDSA P-224 signature in fixed-size
// r || s form. The zero value is no proof.
type Proof [ProofSize]byte

// String returns the proof in lowercase hex, 112 digits.
func (p Proof) String() string { return hex.EncodeToString(p[:]) }

// IsZero reports whether p is the zero value, which no signer produces.
func (p Proof) IsZero() bool { return p == Proof{} }

// ProofLabel opens every statement (findmy §8.1), so that a signature made
// for anything else can never pass as a proof, nor a proof as anything
// else.
const ProofLabel = "PACT findmy proof of possession v1"

// MaxStatementRegion is the longest region a statement names: its length
// travels in one byte. Regions of docs/api.md are much shorter.
const MaxStatementRegion = 255

// KeyKind tells a primary key from a secondary one (findmy §5, §9).
type KeyKind uint8

const (
	// PrimaryKey rotates every 15 minutes; it is what an accessory near
	// its owner advertises.
	PrimaryKey KeyKind = 0
	// SecondaryKey rotates daily; it is what a separated accessory
	// advertises (findmy §9).
	SecondaryKey KeyKind = 1
)

// Statement is what a proof of possession is about (findmy §8.1): one
// advertised key, the minutes it was current as its owner publishes them,
// its kind, and the region of the upload that carries it.
type Statement struct {
	Key        Key
	Kind       KeyKind
	Start, End uint32 // PACT minutes, both inclusive
	Region     string
}

// Errors of proofs. Every error of SignProof, VerifyProof and ParseProof
// wraps one of them.
var (
	// ErrProofEncoding: the 56 bytes are not r || s with 1 <= r < n and
	// 1 <= s <= (n-1)/2, or the hex form has the wrong length or digits.
	ErrProofEncoding = errors.New("proof is not r || s with 1 <= r < n and 1 <= s <= (n-1)/2")
	// ErrProofInvalid: a well-formed proof that does not verify for the
	// statement: whoever made it did not hold the key's private scalar, or
	// signed another statement.
	ErrProofInvalid = errors.New("proof does not verify for the statement")
	// ErrStatement: a statement that cannot be signed or verified: a key
	// off the curve, a window that ends before it starts, a kind other
	// than primary or secondary, or a region empty or longer than
	// MaxStatementRegion bytes.
	ErrStatement = errors.New("statement is not well-formed")
)

// Digest returns SHA-256 of the statement's encoding (findmy §8.1):
//
//	label (34) || 0x00 || kind (1) || key (28) || start (4) || end (4) || len(region) (1) || region
//
// with integers big-endian. It fails with ErrStatement when the region is
// empty or longer than MaxStatementRegion, the kind unknown or end < start.
func (s Statement) Digest() ([sha256.Size]byte, error) {
	switch {
	case len(s.Region) == 0 || len(s.Region) > MaxStatementRegion:
		return [sha256.Size]byte{}, fmt.Errorf("statement region of %d bytes, want 1..%d: %w", len(s.Region), MaxStatementRegion, ErrStatement)
	case s.Kind != PrimaryKey && s.Kind != SecondaryKey:
		return [sha256.Size]byte{}, fmt.Errorf("statement kind %d: %w", s.Kind, ErrStatement)
	case s.End < s.Start:
		return [sha256.Size]byte{}, fmt.Errorf("statement window %d..%d ends before it starts: %w", s.Start, s.End, ErrStatement)
	}
	b := make([]byte, 0, len(ProofLabel)+1+1+KeySize+4+4+1+len(s.Region))
	b = append(b, ProofLabel...)
	b = append(b, 0, byte(s.Kind))
	b = append(b, s.Key[:]...)
	b = binary.BigEndian.AppendUint32(b, s.Start)
	b = binary.BigEndian.AppendUint32(b, s.End)
	b = append(b, byte(len(s.Region)))
	b = append(b, s.Region...)
	return sha256.Sum256(b), nil
}

// p224HalfN is (n-1)/2: a proof's s is at most this (findmy §8.2), so
// that each statement and key have one valid encoding per nonce rather
// than the two, s and n-s, that ECDSA accepts.
var (
	p224NBig  = elliptic.P224().Params().N
	p224HalfN = new(big.Int).Rsh(p224NBig, 1)
)

// SigningScalar returns the scalar that signs proofs for d's advertised key
// (findmy §8.2): d when y(d*G) is even, n - d otherwise, whose point is
// (x, p - y) with the same x and even y. A verifier, who knows only x,
// lifts it to the point with even y.
func (d PrivateKey) SigningScalar() (PrivateKey, error) {
	pub := d.Public()
	if pub == (PublicKey{}) {
		return PrivateKey{}, fmt.Errorf("signing scalar: %w", keyError("private key", d.d[:], ErrScalarRange))
	}
	if pub.q[UncompressedSize-1]&1 == 0 {
		return d, nil
	}
	neg := new(big.Int).Sub(p224NBig, new(big.Int).SetBytes(d.d[:]))
	var out PrivateKey
	neg.FillBytes(out.d[:])
	return out, nil
}

// SignProof signs st with d, which must be the private key of st.Key
// (findmy §8.2). The signature is deterministic (RFC 6979 with SHA-256,
// over the signing scalar), with s folded to the lower half: the same
// key and statement always give the same 56 bytes.
func SignProof(d PrivateKey, st Statement) (Proof, error) {
	digest, err := st.Digest()
	if err != nil {
		return Proof{}, fmt.Errorf("findmy: proof for key %s: %w", st.Key, err)
	}
	if d.Public().Key() != st.Key {
		return Proof{}, fmt.Errorf("findmy: proof for key %s: the private key's key is %s: %w", st.Key, d.Public().Key(), ErrStatement)
	}
	sd, err := d.SigningScalar()
	if err != nil {
		return Proof{}, fmt.Errorf("findmy: proof for key %s: %w", st.Key, err)
	}
	priv, err := ecdsa.ParseRawPrivateKey(elliptic.P224(), sd.d[:])
	if err != nil {
		return Proof{}, fmt.Errorf("findmy: proof for key %s: %w", st.Key, keyError("private key", sd.d[:], ErrScalarRange))
	}
	// A nil random source selects RFC 6979 (crypto/ecdsa, Go 1.24+).
	der, err := priv.Sign(nil, digest[:], crypto.SHA256)
	if err != nil {
		return Proof{}, fmt.Errorf("findmy: proof for key %s: signing: %w", st.Key, err)
	}
	r, s, err := parseDERSignature(der)
	if err != nil {
		return Proof{}, fmt.Errorf("findmy: proof for key %s: %w", st.Key, err)
	}
	if s.Cmp(p224HalfN) > 0 {
		s.Sub(p224NBig, s)
	}
	var p Proof
	r.FillBytes(p[:KeySize])
	s.FillBytes(p[KeySize:])
	return p, nil
}

// parseDERSignature reads the ASN.1 SEQUENCE { r INTEGER, s INTEGER } that
// crypto/ecdsa produces; it never sees untrusted input.
func parseDERSignature(der []byte) (r, s *big.Int, err error) {
	var sig struct{ R, S *big.Int }
	if _, err := asn1.Unmarshal(der, &sig); err != nil || sig.R == nil || sig.S == nil {
		return nil, nil, fmt.Errorf("reading the signature: %w", err)
	}
	return sig.R, sig.S, nil
}

// components returns r and s, checking their ranges (findmy §8.2).
func (p *Proof) components() (r, s *big.Int, err error) {
	r = new(big.Int).SetBytes(p[:KeySize])
	s = new(big.Int).SetBytes(p[KeySize:])
	switch {
	case r.Sign() == 0 || r.Cmp(p224NBig) >= 0:
		return nil, nil, fmt.Errorf("r %x: %w", p[:KeySize], ErrProofEncoding)
	case s.Sign() == 0 || s.Cmp(p224HalfN) > 0:
		return nil, nil, fmt.Errorf("s %x: %w", p[KeySize:], ErrProofEncoding)
	}
	return r, s, nil
}

// CheckProofEncoding reports whether p is well-formed (findmy §8.2)
// without verifying it: ErrProofEncoding otherwise.
func CheckProofEncoding(p Proof) error {
	if _, _, err := p.components(); err != nil {
		return fmt.Errorf("findmy: proof %s: %w", clip(p.String()), err)
	}
	return nil
}

// EvenYPoint returns the point with x-coordinate k and even y, the point
// whose signing scalar signs k's proofs (findmy §8.2), uncompressed.
func EvenYPoint(k Key) ([]byte, error) {
	var c [CompressedSize]byte
	c[0] = 0x02
	copy(c[1:], k[:])
	pt, err := nistec.NewP224Point().SetBytes(c[:])
	if err != nil {
		return nil, keyError("key", k[:], ErrNotOnCurve)
	}
	return pt.Bytes(), nil
}

// VerifyProof checks that p proves possession of st.Key's private key for
// st (findmy §8.3): it fails with ErrProofEncoding for a malformed proof,
// ErrStatement for a statement that cannot be signed (a key off the
// curve among them) and ErrProofInvalid for a proof that does not verify.
// It costs one square root and one ECDSA verification (BenchmarkProof:
// about 0.66 ms on a loaded two-core machine).
func VerifyProof(st Statement, p Proof) error {
	r, s, err := p.components()
	if err != nil {
		return fmt.Errorf("findmy: proof for key %s: %w", st.Key, err)
	}
	digest, err := st.Digest()
	if err != nil {
		return fmt.Errorf("findmy: proof for key %s: %w", st.Key, err)
	}
	point, err := EvenYPoint(st.Key)
	if err != nil {
		return fmt.Errorf("findmy: proof for key %s: %w: %w", st.Key, ErrStatement, err)
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P224(), point)
	if err != nil {
		return fmt.Errorf("findmy: proof for key %s: %w: %w", st.Key, ErrStatement, err)
	}
	if !ecdsa.Verify(pub, digest[:], r, s) {
		return fmt.Errorf("findmy: proof for key %s window %d..%d kind %d region %q: %w", st.Key, st.Start, st.End, st.Kind, clip(st.Region), ErrProofInvalid)
	}
	return nil
}

// ParseProof decodes a proof given as 112 hex digits and checks its
// encoding (findmy §8.2).
func ParseProof(s string) (Proof, error) {
	if len(s) != 2*ProofSize {
		return Proof{}, fmt.Errorf("findmy: proof %q: want %d hex digits, got %d: %w", clip(s), 2*ProofSize, len(s), ErrProofEncoding)
	}
	var p Proof
	if _, err := hex.Decode(p[:], []byte(s)); err != nil {
		return Proof{}, fmt.Errorf("findmy: proof %q: not hex: %w: %w", clip(s), ErrProofEncoding, err)
	}
	if err := CheckProofEncoding(p); err != nil {
		return Proof{}, err
	}
	return p, nil
}
