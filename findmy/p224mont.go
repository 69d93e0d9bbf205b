package findmy

import (
	"math/big"
	"math/bits"
)

// The curve equation x^3 - 3x + b is evaluated in the Montgomery domain
// with R = 2^256, without converting x in or the result out: R is the
// square of 2^128, so multiplying by any power of R leaves the Legendre
// symbol unchanged, and only the symbol is wanted. With
// mont(a, b) = a*b/R mod p:
//
//	s = mont(x, x) - 3/R             = (x^2 - 3)/R
//	y = mont(s, x) + b/R^2           = (x^3 - 3x + b)/R^2
//
// which is two 4x4-limb multiplications where math/big needed two
// multiplications and a division.
var (
	p224ThreeOverR  = montConstant(big.NewInt(3), 1)
	p224BOverRSq    = montConstant(p224B, 2)
	p224MontNegPInv = negInverse64(p224Limbs[0])
)

// montConstant returns v/R^k mod p as limbs.
func montConstant(v *big.Int, k int) limbs {
	rInv := new(big.Int).Lsh(big.NewInt(1), 256)
	rInv.ModInverse(rInv, p224P)
	out := new(big.Int).Mod(v, p224P)
	for range k {
		out.Mul(out, rInv).Mod(out, p224P)
	}
	return limbsOf(out)
}

// negInverse64 returns -1/n mod 2^64 for odd n (Newton's iteration, each
// step doubling the correct low bits).
func negInverse64(n uint64) uint64 {
	inv := n // correct to 3 bits for odd n
	for range 5 {
		inv *= 2 - n*inv
	}
	return -inv
}

// curveRHSMont returns (x^3 - 3x + b)/R^2 mod p for x < p, a value with
// the same Legendre symbol as x^3 - 3x + b.
func curveRHSMont(x *limbs) limbs {
	s := montMulP224(x, x)
	s = subModP224(&s, &p224ThreeOverR)
	y := montMulP224(&s, x)
	return addModP224(&y, &p224BOverRSq)
}

// montMulP224 returns a*b/2^256 mod p for a, b < p (coarsely integrated
// operand scanning: one limb of a at a time, each followed by a one-limb
// Montgomery reduction).
func montMulP224(a, b *limbs) limbs {
	var t0, t1, t2, t3, t4 uint64
	for i := range 4 {
		// t += a[i] * b
		var c, hi, lo, cc uint64
		hi, lo = bits.Mul64(a[i], b[0])
		t0, cc = bits.Add64(t0, lo, 0)
		c = hi + cc
		hi, lo = bits.Mul64(a[i], b[1])
		lo, cc = bits.Add64(lo, c, 0)
		hi += cc
		t1, cc = bits.Add64(t1, lo, 0)
		c = hi + cc
		hi, lo = bits.Mul64(a[i], b[2])
		lo, cc = bits.Add64(lo, c, 0)
		hi += cc
		t2, cc = bits.Add64(t2, lo, 0)
		c = hi + cc
		hi, lo = bits.Mul64(a[i], b[3])
		lo, cc = bits.Add64(lo, c, 0)
		hi += cc
		t3, cc = bits.Add64(t3, lo, 0)
		c = hi + cc
		t4 += c // t < 2p*2^64 < 2^289 before the shift: no carry out of t4

		// t = (t + m*p) / 2^64 with m chosen to clear the low limb
		m := t0 * p224MontNegPInv
		hi, lo = bits.Mul64(m, p224Limbs[0])
		_, cc = bits.Add64(t0, lo, 0)
		c = hi + cc
		hi, lo = bits.Mul64(m, p224Limbs[1])
		lo, cc = bits.Add64(lo, c, 0)
		hi += cc
		t0, cc = bits.Add64(t1, lo, 0)
		c = hi + cc
		hi, lo = bits.Mul64(m, p224Limbs[2])
		lo, cc = bits.Add64(lo, c, 0)
		hi += cc
		t1, cc = bits.Add64(t2, lo, 0)
		c = hi + cc
		hi, lo = bits.Mul64(m, p224Limbs[3])
		lo, cc = bits.Add64(lo, c, 0)
		hi += cc
		t2, cc = bits.Add64(t3, lo, 0)
		c = hi + cc
		t3, cc = bits.Add64(t4, c, 0)
		t4 = cc
	}
	// t < 2p: one conditional subtraction.
	r := limbs{t0, t1, t2, t3}
	if t4 != 0 || !r.less(&p224Limbs) {
		r.sub(&p224Limbs)
	}
	return r
}

// subModP224 returns a - b mod p for a, b < p.
func subModP224(a, b *limbs) limbs {
	var r limbs
	var borrow, carry uint64
	r[0], borrow = bits.Sub64(a[0], b[0], 0)
	r[1], borrow = bits.Sub64(a[1], b[1], borrow)
	r[2], borrow = bits.Sub64(a[2], b[2], borrow)
	r[3], borrow = bits.Sub64(a[3], b[3], borrow)
	if borrow != 0 {
		r[0], carry = bits.Add64(r[0], p224Limbs[0], 0)
		r[1], carry = bits.Add64(r[1], p224Limbs[1], carry)
		r[2], carry = bits.Add64(r[2], p224Limbs[2], carry)
		r[3], _ = bits.Add64(r[3], p224Limbs[3], carry)
	}
	return r
}

// addModP224 returns a + b mod p for a, b < p < 2^255 (no carry out).
func addModP224(a, b *limbs) limbs {
	var r limbs
	var carry uint64
	r[0], carry = bits.Add64(a[0], b[0], 0)
	r[1], carry = bits.Add64(a[1], b[1], carry)
	r[2], carry = bits.Add64(a[2], b[2], carry)
	r[3], _ = bits.Add64(a[3], b[3], carry)
	if !r.less(&p224Limbs) {
		r.sub(&p224Limbs)
	}
	return r
}
