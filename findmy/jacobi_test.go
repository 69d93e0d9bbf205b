package findmy

import (
	"math/big"
	"math/bits"
	"math/rand/v2"
	"testing"
)

func bigOf(a limbs) *big.Int {
	var b [32]byte
	for i := range 4 {
		for j := range 8 {
			b[31-8*i-j] = byte(a[i] >> (8 * j))
		}
	}
	return new(big.Int).SetBytes(b[:])
}

// setLimbs sets z to a through the buffer w, without allocating.
func setLimbs(z *big.Int, w *[4]big.Word, a limbs) *big.Int {
	if bits.UintSize != 64 {
		return z.Set(bigOf(a))
	}
	for i := range a {
		w[i] = big.Word(a[i])
	}
	return z.SetBits(w[:])
}

func TestJacobiEdgeCases(t *testing.T) {
	pMinus1 := p224Limbs
	pMinus1[0]--
	pPlus1 := p224Limbs
	pPlus1[0]++
	max := limbs{^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0)}
	b := limbsOf(p224B)
	const unknown = 2 // only compared with math/big
	cases := []struct {
		name string
		a, n limbs
		want int
	}{
		{"0 mod 1", limbs{}, limbs{1}, 1},
		{"1 mod 1", limbs{1}, limbs{1}, 1},
		{"0 mod p", limbs{}, p224Limbs, 0},
		{"1 mod p", limbs{1}, p224Limbs, 1},
		{"p-1 mod p", pMinus1, p224Limbs, 1}, // p = 1 mod 4
		{"p-1 mod 2^256-1", pMinus1, max, unknown},
		{"p mod p", p224Limbs, p224Limbs, 0},
		{"p+1 mod p", pPlus1, p224Limbs, 1},
		{"2^256-1 mod p", max, p224Limbs, unknown},
		{"b mod p", b, p224Limbs, unknown},
		{"2 mod 3", limbs{2}, limbs{3}, -1},
		{"5 mod 21", limbs{5}, limbs{21}, 1},
		{"8 mod 21", limbs{8}, limbs{21}, -1},
		{"19 mod 45", limbs{19}, limbs{45}, 1},
		{"p mod 2^256-1", p224Limbs, max, unknown},
		{"2^64 mod p", limbs{0, 1}, p224Limbs, 1}, // a square
		{"2^192 mod p", limbs{0, 0, 0, 1}, p224Limbs, 1},
		{"3 * 2^64 mod 3", limbs{0, 3}, limbs{3}, 0},
		{"one word each", limbs{0xfedcba9876543210}, limbs{0xffffffffffffffc5}, unknown},
		{"top limbs of a zero", limbs{3, 0, 0, 0}, p224Limbs, unknown},
		{"top limbs of n zero", max, limbs{0xffffffffffffffc5}, unknown},
	}
	for _, c := range cases {
		want := big.Jacobi(bigOf(c.a), bigOf(c.n))
		if c.want != unknown && c.want != want {
			// Cases with a hand-computed symbol pin math/big itself.
			t.Errorf("%s: math/big says %d, table says %d", c.name, want, c.want)
		}
		if got := jacobi(c.a, c.n); got != want {
			t.Errorf("%s: jacobi = %d, math/big says %d", c.name, got, want)
		}
		if got := jacobiBinary(c.a, c.n); got != want {
			t.Errorf("%s: jacobiBinary = %d, math/big says %d", c.name, got, want)
		}
	}
}

// randomOperand draws a value of a random shape: full width, below p,
// at least p, or with its top limbs zero so that the one-word shortcuts
// run early.
func randomOperand(r *rand.Rand) limbs {
	a := limbs{r.Uint64(), r.Uint64(), r.Uint64(), r.Uint64()}
	switch r.IntN(6) {
	case 0: // full 256 bits
	case 1, 2: // below p, as onCurve passes it
		a[3] &= 0xffffffff
		if !a.less(&p224Limbs) {
			a.sub(&p224Limbs)
		}
	case 3: // p plus a little
		s := p224Limbs
		s[0] += a[0] >> 8
		a = s
	case 4: // a few words
		for i := 1 + r.IntN(3); i < 4; i++ {
			a[i] = 0
		}
	case 5: // random bit length
		bits := r.IntN(257)
		for i := range 4 {
			switch {
			case bits <= 64*i:
				a[i] = 0
			case bits < 64*(i+1):
				a[i] &= ^uint64(0) >> uint(64*(i+1)-bits)
			}
		}
	}
	return a
}

func TestJacobiRandomAgainstMathBig(t *testing.T) {
	rounds := 100_000 // about a second
	if raceEnabled {
		rounds = 20_000
	}
	r := rand.New(rand.NewPCG(224, 1))
	var ab, nb big.Int
	var aw, nw [4]big.Word
	for i := range rounds {
		a := randomOperand(r)
		n := p224Limbs
		if i%4 != 0 {
			n = randomOperand(r)
			n[0] |= 1
		}
		if i%16 == 1 { // a shares a factor with n
			a = limbsOf(new(big.Int).Mul(bigOf(limbs{n[0] | 1}), big.NewInt(int64(r.IntN(1000)+1))))
			n[0] |= 1
		}
		want := big.Jacobi(setLimbs(&ab, &aw, a), setLimbs(&nb, &nw, n))
		if got := jacobi(a, n); got != want {
			t.Fatalf("jacobi(%x, %x) = %d, math/big says %d", bigOf(a), bigOf(n), got, want)
		}
		if i%16 == 0 { // the fallback, checked on fewer inputs: it is slower
			if got := jacobiBinary(a, n); got != want {
				t.Fatalf("jacobiBinary(%x, %x) = %d, math/big says %d", bigOf(a), bigOf(n), got, want)
			}
		}
	}
}

// TestJacobiFallbackAtEveryRound hands over to the binary algorithm after
// every number of batches, as jacobi does when divsteps run long, and
// checks the symbol still agrees.
func TestJacobiFallbackAtEveryRound(t *testing.T) {
	r := rand.New(rand.NewPCG(224, 2))
	for range 2_000 {
		a, n := randomOperand(r), p224Limbs
		if r.IntN(2) == 0 {
			n = randomOperand(r)
			n[0] |= 1
		}
		want := big.Jacobi(bigOf(a), bigOf(n))
		for rounds := range 16 {
			if got := jacobiRounds(a, n, rounds); got != want {
				t.Fatalf("jacobiRounds(%x, %x, %d) = %d, math/big says %d", bigOf(a), bigOf(n), rounds, got, want)
			}
		}
	}
}

// TestJacobiRoundsNeeded checks that random curve values settle well
// inside divstepRounds, so the fallback stays rare.
func TestJacobiRoundsNeeded(t *testing.T) {
	r := rand.New(rand.NewPCG(224, 3))
	most := 0
	for range 5_000 {
		a := randomOperand(r)
		if !a.less(&p224Limbs) {
			continue
		}
		want := jacobiBinary(a, p224Limbs)
		need := 0
		for jacobiRounds(a, p224Limbs, need) != want || !settles(a, need) {
			need++
		}
		most = max(most, need)
	}
	t.Logf("worst of 5,000 random values below p: %d batches", most)
	if most > divstepRounds*3/4 {
		t.Errorf("a random value below p needed %d batches of divsteps, budget %d", most, divstepRounds)
	}
}

// settles reports whether jacobiRounds finishes its divsteps within the
// given number of batches, without the binary fallback.
func settles(a limbs, rounds int) bool {
	f, g := p224Limbs, a
	eta := int64(-1)
	var flip uint64
	for range rounds {
		var m divstepMatrix
		eta, m = posDivsteps62(eta, f[0], g[0], &flip)
		f, g = mulAddShift62(m.u, &f, m.v, &g), mulAddShift62(m.q, &f, m.r, &g)
		if f == (limbs{1}) || g.isZero() || g == f {
			return true
		}
	}
	return false
}

func TestMontMulP224AgainstMathBig(t *testing.T) {
	r := rand.New(rand.NewPCG(224, 4))
	rInv := new(big.Int).ModInverse(new(big.Int).Lsh(big.NewInt(1), 256), p224P)
	pMinus1 := p224Limbs
	pMinus1[0]--
	edges := []limbs{{}, {1}, pMinus1, {0, 0, 0, 0xffffffff}}
	for i := range 20_000 {
		var a, b limbs
		if i < len(edges)*len(edges) {
			a, b = edges[i/len(edges)], edges[i%len(edges)]
		} else {
			a, b = randomOperand(r), randomOperand(r)
			a[3] &= 0xffffffff
			b[3] &= 0xffffffff
			if !a.less(&p224Limbs) || !b.less(&p224Limbs) {
				continue
			}
		}
		want := new(big.Int).Mul(bigOf(a), bigOf(b))
		want.Mul(want, rInv).Mod(want, p224P)
		if got := montMulP224(&a, &b); bigOf(got).Cmp(want) != 0 {
			t.Fatalf("montMulP224(%x, %x) = %x, want %x", bigOf(a), bigOf(b), bigOf(got), want)
		}
		wantSub := new(big.Int).Sub(bigOf(a), bigOf(b))
		wantSub.Mod(wantSub, p224P)
		if got := subModP224(&a, &b); bigOf(got).Cmp(wantSub) != 0 {
			t.Fatalf("subModP224(%x, %x) = %x, want %x", bigOf(a), bigOf(b), bigOf(got), wantSub)
		}
		wantAdd := new(big.Int).Add(bigOf(a), bigOf(b))
		wantAdd.Mod(wantAdd, p224P)
		if got := addModP224(&a, &b); bigOf(got).Cmp(wantAdd) != 0 {
			t.Fatalf("addModP224(%x, %x) = %x, want %x", bigOf(a), bigOf(b), bigOf(got), wantAdd)
		}
	}
}

// TestCurveRHSMont checks the Montgomery-domain curve value against
// x^3 - 3x + b computed with math/big: it must equal that times 1/R^2.
func TestCurveRHSMont(t *testing.T) {
	r := rand.New(rand.NewPCG(224, 5))
	rInv := new(big.Int).ModInverse(new(big.Int).Lsh(big.NewInt(1), 256), p224P)
	rInv2 := new(big.Int).Mul(rInv, rInv)
	pMinus1 := p224Limbs
	pMinus1[0]--
	for i := range 20_000 {
		x := randomOperand(r)
		switch i {
		case 0:
			x = limbs{}
		case 1:
			x = pMinus1
		case 2:
			x = limbs{3}
		}
		x[3] &= 0xffffffff
		if !x.less(&p224Limbs) {
			continue
		}
		bx := bigOf(x)
		want := new(big.Int).Mul(bx, bx)
		want.Sub(want, bigThree).Mul(want, bx).Add(want, p224B).Mul(want, rInv2).Mod(want, p224P)
		if got := curveRHSMont(&x); bigOf(got).Cmp(want) != 0 {
			t.Fatalf("curveRHSMont(%x) = %x, want %x", bx, bigOf(got), want)
		}
	}
}

func TestLimbsRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(224, 6))
	for range 1000 {
		a := randomOperand(r)
		if got := limbsOf(bigOf(a)); got != a {
			t.Fatalf("limbsOf(bigOf(%x)) = %x", a, got)
		}
	}
}

// FuzzJacobiAgreesWithBig compares jacobi, jacobiBinary and every
// hand-over point between them with math/big's Jacobi.
func FuzzJacobiAgreesWithBig(f *testing.F) {
	f.Add([]byte{5}, []byte{21})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, []byte{0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	p := p224P.Bytes()
	f.Add(p, p)
	f.Add(p224B.Bytes(), p)
	f.Fuzz(func(t *testing.T, ab, nb []byte) {
		if len(ab) > 32 || len(nb) > 32 {
			return
		}
		a, n := new(big.Int).SetBytes(ab), new(big.Int).SetBytes(nb)
		if n.Bit(0) == 0 {
			return
		}
		want := big.Jacobi(a, n)
		al, nl := limbsOf(a), limbsOf(n)
		if got := jacobi(al, nl); got != want {
			t.Fatalf("jacobi(%x, %x) = %d, math/big says %d", a, n, got, want)
		}
		if got := jacobiBinary(al, nl); got != want {
			t.Fatalf("jacobiBinary(%x, %x) = %d, math/big says %d", a, n, got, want)
		}
		for rounds := range 4 {
			if got := jacobiRounds(al, nl, rounds); got != want {
				t.Fatalf("jacobiRounds(%x, %x, %d) = %d, math/big says %d", a, n, rounds, got, want)
			}
		}
	})
}
