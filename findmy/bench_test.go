package findmy

import (
	"crypto/sha256"
	"math/big"
	"testing"

	"filippo.io/nistec"
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
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		onCurve(&keys[i&1023])
	}
}

// BenchmarkOnCurveDecompress is the alternative the package does not use:
// point decompression through nistec, which takes a square root.
func BenchmarkOnCurveDecompress(b *testing.B) {
	keys := benchKeys(1024)
	buf := make([]byte, CompressedSize)
	buf[0] = 2
	p := nistec.NewP224Point()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		copy(buf[1:], keys[i&1023][:])
		p.SetBytes(buf)
	}
}

func benchSchedule(b *testing.B) (Secret, PrivateKey) {
	h := sha256.Sum256([]byte("bench schedule"))
	d0, err := NewPrivateKey(h[:KeySize])
	if err != nil {
		b.Fatal(err)
	}
	return Secret(sha256.Sum256(h[:])), d0
}

// BenchmarkDerivePrivate is one key of a schedule from d_0: d_i and d_i*G.
func BenchmarkDerivePrivate(b *testing.B) {
	sk, d0 := benchSchedule(b)
	b.ReportAllocs()
	for b.Loop() {
		di, err := d0.Derive(sk)
		if err != nil {
			b.Fatal(err)
		}
		di.Public()
	}
}

// BenchmarkDerivePublic is one key of a schedule from P_0, what the
// exposure server computes for a Find My upload: u*P_0 + v*G.
func BenchmarkDerivePublic(b *testing.B) {
	sk, d0 := benchSchedule(b)
	p0 := d0.Public()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p0.Derive(sk); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParsePublicKey decodes a compressed P_0 given in hex.
func BenchmarkParsePublicKey(b *testing.B) {
	_, d0 := benchSchedule(b)
	full := d0.Public().Bytes()
	s := "02" + Key(full[1:1+KeySize]).String()
	if full[UncompressedSize-1]&1 == 1 {
		s = "03" + s[2:]
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParsePublicKey(s); err != nil {
			b.Fatal(err)
		}
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

// BenchmarkProof measures what a proof of possession costs to make and to
// check (findmy §8): the server and every device verify one per key.
func BenchmarkProof(b *testing.B) {
	var doc struct{ Cases []proofCase }
	loadJSON(b, "proofs.json", &doc)
	c := doc.Cases[0]
	d, err := ParsePrivateKey(c.PrivateKey)
	if err != nil {
		b.Fatal(err)
	}
	st := c.statement(b)
	p := Proof(mustHex(b, c.Proof))
	b.Run("sign", func(b *testing.B) {
		for b.Loop() {
			if _, err := SignProof(d, st); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("verify", func(b *testing.B) {
		for b.Loop() {
			if err := VerifyProof(st, p); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// onCurveMathBig is the check as it was before the Montgomery arithmetic
// and the divsteps symbol: the curve equation with math/big, then the
// binary Jacobi symbol. It stays as the baseline of BenchmarkOnCurve.
type onCurveMathBig struct {
	x, sq, cube, q, r big.Int
	out               [KeySize]byte
}

func (c *onCurveMathBig) onCurve(k *Key) bool {
	x := limbsFromBytes(k[:])
	if !x.less(&p224Limbs) {
		return false
	}
	c.x.SetBytes(k[:])
	c.sq.Mul(&c.x, &c.x)
	c.sq.Sub(&c.sq, bigThree)
	c.cube.Mul(&c.sq, &c.x)
	c.cube.Add(&c.cube, p224B)
	c.q.QuoRem(&c.cube, p224P, &c.r)
	if c.r.Sign() < 0 {
		c.r.Add(&c.r, p224P)
	}
	c.r.FillBytes(c.out[:])
	return jacobiBinary(limbsFromBytes(c.out[:]), p224Limbs) >= 0
}

// BenchmarkOnCurveMathBig is the baseline of BenchmarkOnCurve, on the
// same keys.
func BenchmarkOnCurveMathBig(b *testing.B) {
	keys := benchKeys(1024)
	var c onCurveMathBig
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		c.onCurve(&keys[i&1023])
	}
}

func benchCurveValues() []limbs {
	keys := benchKeys(1024)
	vals := make([]limbs, len(keys))
	for i := range keys {
		x := limbsFromBytes(keys[i][:])
		x[3] &= 0xffffffff // below 2^224, so below p but for 2^-128 of keys
		vals[i] = curveRHSMont(&x)
	}
	return vals
}

// BenchmarkJacobi is the symbol alone, (y/p) for curve values y.
func BenchmarkJacobi(b *testing.B) {
	vals := benchCurveValues()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		jacobi(vals[i&1023], p224Limbs)
	}
}

// BenchmarkJacobiBinary is the binary algorithm on the same values, the
// baseline of BenchmarkJacobi.
func BenchmarkJacobiBinary(b *testing.B) {
	vals := benchCurveValues()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		jacobiBinary(vals[i&1023], p224Limbs)
	}
}

// BenchmarkCurveRHS is the curve equation alone in Montgomery form.
func BenchmarkCurveRHS(b *testing.B) {
	vals := benchCurveValues()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		curveRHSMont(&vals[i&1023])
	}
}
