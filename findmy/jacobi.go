package findmy

import "math/bits"

// jacobi returns the Jacobi symbol (a/n) for odd n > 0.
//
// It runs Bernstein and Yang's divsteps ("Fast constant-time gcd
// computation and modular inversion", 2019) in the "positive" variant that
// only ever adds a multiple of n to a, so both operands stay non-negative
// and each step has a Jacobi rule that needs only their low bits:
//
//   - adding w*n to a leaves (a/n) unchanged;
//   - halving a flips the symbol when n = 3 or 5 mod 8 (second
//     supplementary law);
//   - swapping a and n flips it when both are 3 mod 4 (reciprocity).
//
// Because every decision reads only the low bits, 62 steps run on the low
// 64-bit words alone and are applied to the full operands at once as one
// 2x2 matrix, where the binary algorithm walks all four limbs for every
// step. Since nothing is ever subtracted, g never reaches 0 (unless a is
// 0): f shrinks to gcd(a, n) and g follows it, so the loop stops at f = 1,
// where the symbol is the sign collected so far, or at g = f > 1, where it
// is 0. The variant has no proven bound on its step count, so after
// divstepRounds batches (about twice what random input needs) it hands
// the operands it has reached, whose symbol is still the one sought, to
// the binary algorithm; the answer is exact either way.
func jacobi(a, n limbs) int { return jacobiRounds(a, n, divstepRounds) }

// jacobiRounds is jacobi with the fallback after the given number of
// batches, so that tests can hand over at every point.
func jacobiRounds(a, n limbs, rounds int) int {
	f, g := n, a // the divsteps literature's names: (g/f), f odd
	eta := int64(-1)
	var flip uint64 // bit 0 is set when the symbol has changed sign
	for range rounds {
		var m divstepMatrix
		eta, m = posDivsteps62(eta, f[0], g[0], &flip)
		f, g = mulAddShift62(m.u, &f, m.v, &g), mulAddShift62(m.q, &f, m.r, &g)
		// f never grows and settles at gcd(a, n), where (g/f) is 1
		// (f = 1) or 0 (f > 1; g then is 0 or equal to f).
		if f == (limbs{1}) {
			return jacobiSign(flip)
		}
		if g.isZero() || g == f {
			return 0
		}
	}
	return jacobiSign(flip) * jacobiBinary(g, f)
}

// divstepRounds bounds the batches of 62 divsteps jacobi runs before it
// falls back to the binary algorithm. Random curve values mod p need 11
// on average; TestJacobiRoundsNeeded checks that the worst of thousands
// stays well inside the budget.
const divstepRounds = 25

func jacobiSign(flip uint64) int { return 1 - 2*int(flip&1) }

// divstepMatrix is the combined effect of 62 divsteps:
// f' = (u*f + v*g) / 2^62 and g' = (q*f + r*g) / 2^62. All four entries
// lie in [0, 2^62], since every step only adds, swaps and halves.
type divstepMatrix struct{ u, v, q, r uint64 }

// posDivsteps62 runs 62 positive divsteps on the low words f0 (odd) and g0
// of the operands and returns the new eta and their matrix; bit 0 of
// *flip toggles with every sign change of (g/f). It needs 64 bits of each
// operand although it only takes 62 steps, because the halving rule reads
// f mod 8 and every step costs one exact bit at the top.
func posDivsteps62(eta int64, f0, g0 uint64, flip *uint64) (int64, divstepMatrix) {
	// Invariant: u*f0 + v*g0 = f << (62-i) and q*f0 + r*g0 = g << (62-i),
	// modulo 2^64, with i steps left.
	u, v, q, r := uint64(1), uint64(0), uint64(0), uint64(1)
	f, g := f0, g0
	fl := *flip
	i := 62
	for {
		// Halve g as often as it is even, at most i times (the sentinel
		// bit stops the count): each halving shifts f's row instead.
		zeros := bits.TrailingZeros64(g | ^uint64(0)<<uint(i))
		g >>= uint(zeros)
		u <<= uint(zeros)
		v <<= uint(zeros)
		eta -= int64(zeros)
		i -= zeros
		// An odd number of halvings flips the symbol when f = 3 or 5 mod 8.
		fl ^= uint64(zeros) & (f>>1 ^ f>>2)
		if i == 0 {
			break
		}
		// f and g are odd now. Add the multiple w of f to g that clears
		// as many low bits of g as eta and the steps left allow (at most
		// 6 bits after a swap, 4 otherwise, which keeps w's computation
		// short).
		var w, mask uint64
		if eta < 0 {
			eta = -eta
			f, g = g, f
			u, q = q, u
			v, r = r, v
			fl ^= (f & g) >> 1 // both 3 mod 4
			limit := min(int(eta)+1, i)
			mask = (^uint64(0) >> uint(64-limit)) & 63
			// f*(f*f-2) is -1/f mod 64 for odd f, so w = -g/f mod 2^6.
			w = (f * g * (f*f - 2)) & mask
		} else {
			limit := min(int(eta)+1, i)
			mask = (^uint64(0) >> uint(64-limit)) & 15
			// f + ((f+1)&4)<<1 is 1/f mod 16 for odd f.
			w = (-(f + ((f+1)&4)<<1) * g) & mask
		}
		g += f * w
		q += u * w
		r += v * w
	}
	*flip = fl
	return eta, divstepMatrix{u, v, q, r}
}

// mulAddShift62 returns (x*a + y*b) / 2^62 for x, y <= 2^62 and a sum
// divisible by 2^62 (as a divstep matrix guarantees). The sum is below
// 2^319, so five words hold it; the quotient fits in four because it is
// at most max(a, b).
func mulAddShift62(x uint64, a *limbs, y uint64, b *limbs) limbs {
	var s [5]uint64
	var c uint64
	for j := range 4 {
		h1, l1 := bits.Mul64(x, a[j])
		h2, l2 := bits.Mul64(y, b[j])
		var cc uint64
		l1, cc = bits.Add64(l1, l2, 0)
		h1 += h2 + cc // x*a[j] + y*b[j] <= 2^127: no overflow
		l1, cc = bits.Add64(l1, c, 0)
		s[j] = l1
		c = h1 + cc
	}
	s[4] = c
	return limbs{
		s[0]>>62 | s[1]<<2,
		s[1]>>62 | s[2]<<2,
		s[2]>>62 | s[3]<<2,
		s[3]>>62 | s[4]<<2,
	}
}
