package findmy

import (
	"encoding/binary"
	"math/big"
	"math/bits"
)

// A 28-byte key is a valid Offline Finding key when it is the x-coordinate
// of a point on P-224 (findmy §4): x < p and x^3 - 3x + b is a square mod p.
// Roughly half of all random 28-byte strings fail, so the check catches
// corrupt or forged frames that would otherwise fill the contact log with
// chirps no one can ever have broadcast.
//
// The check runs for every full-form frame a scanner hears, so it avoids
// both a square root and a modular exponentiation: it evaluates the curve
// equation with two Montgomery multiplications on fixed 64-bit limbs and
// decides quadratic residuosity with a Jacobi symbol computed by batched
// divsteps (jacobi), which allocates nothing. A Validator adds a small
// cache in front, because a device repeats the same key for 15 minutes at
// several frames a second.

// The prime p and the coefficient b of P-224 (FIPS 186-4 §D.1.2.2); a is -3.
var (
	p224P     = mustBig("ffffffffffffffffffffffffffffffff000000000000000000000001")
	p224B     = mustBig("b4050a850c04b3abf54132565044b0b7d7bfd8ba270b39432355ffb4")
	p224Limbs = limbsOf(p224P)
	bigThree  = big.NewInt(3)
)

func mustBig(h string) *big.Int {
	v, ok := new(big.Int).SetString(h, 16)
	if !ok {
		panic("findmy: bad constant " + h)
	}
	return v
}

const cacheEmpty = 0

type limbs [4]uint64 // little-endian: limbs[0] is least significant

func limbsOf(v *big.Int) limbs {
	var b [32]byte
	v.FillBytes(b[:])
	return limbsFromBytes(b[:])
}

// limbsFromBytes reads a big-endian number of at most 32 bytes.
func limbsFromBytes(be []byte) limbs {
	var b [32]byte
	copy(b[32-len(be):], be)
	return limbs{
		binary.BigEndian.Uint64(b[24:]),
		binary.BigEndian.Uint64(b[16:]),
		binary.BigEndian.Uint64(b[8:]),
		binary.BigEndian.Uint64(b[0:]),
	}
}

func (a *limbs) isZero() bool { return a[0]|a[1]|a[2]|a[3] == 0 }

func (a *limbs) less(b *limbs) bool {
	for i := 3; i >= 0; i-- {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}

func (a *limbs) sub(b *limbs) {
	var borrow uint64
	a[0], borrow = bits.Sub64(a[0], b[0], 0)
	a[1], borrow = bits.Sub64(a[1], b[1], borrow)
	a[2], borrow = bits.Sub64(a[2], b[2], borrow)
	a[3], _ = bits.Sub64(a[3], b[3], borrow)
}

// shiftOutZeros divides a (non-zero) by its largest power of two and
// returns the exponent.
func (a *limbs) shiftOutZeros() uint {
	var s uint
	for a[0] == 0 {
		a[0], a[1], a[2], a[3] = a[1], a[2], a[3], 0
		s += 64
	}
	tz := uint(bits.TrailingZeros64(a[0]))
	if tz > 0 {
		a[0] = a[0]>>tz | a[1]<<(64-tz)
		a[1] = a[1]>>tz | a[2]<<(64-tz)
		a[2] = a[2]>>tz | a[3]<<(64-tz)
		a[3] >>= tz
	}
	return s + tz
}

// jacobiBinary returns the Jacobi symbol (a/n) for odd n > 0 with the
// binary algorithm: only shifts, subtractions and comparisons. It always
// terminates, about 1.4 full-width steps per bit, and is the fallback of
// jacobi.
func jacobiBinary(a, n limbs) int {
	t := 1
	for !a.isZero() {
		if a[1]|a[2]|a[3]|n[1]|n[2]|n[3] == 0 {
			// The last 64 bits run on machine words: about a quarter of
			// the iterations, at a fraction of the cost.
			return t * jacobi64(a[0], n[0])
		}
		if s := a.shiftOutZeros(); s&1 == 1 {
			if r := n[0] & 7; r == 3 || r == 5 {
				t = -t
			}
		}
		if a.less(&n) {
			a, n = n, a
			if a[0]&3 == 3 && n[0]&3 == 3 {
				t = -t
			}
		}
		a.sub(&n)
	}
	if n == (limbs{1}) {
		return t
	}
	return 0
}

// jacobi64 is jacobi for one-word operands, n odd.
func jacobi64(a, n uint64) int {
	t := 1
	for a != 0 {
		tz := bits.TrailingZeros64(a)
		a >>= uint(tz)
		if tz&1 == 1 {
			if r := n & 7; r == 3 || r == 5 {
				t = -t
			}
		}
		if a < n {
			a, n = n, a
			if a&3 == 3 && n&3 == 3 {
				t = -t
			}
		}
		a -= n
	}
	if n == 1 {
		return t
	}
	return 0
}

// onCurve reports whether k is the x-coordinate of a P-224 point. Its
// arithmetic runs on the stack, so it allocates nothing and shares
// nothing between goroutines.
func onCurve(k *Key) bool {
	x := limbsFromBytes(k[:])
	if !x.less(&p224Limbs) {
		return false
	}
	return jacobi(curveRHSMont(&x), p224Limbs) >= 0
}

// OnCurve reports whether k is the x-coordinate of a point on P-224
// (findmy §4). It is safe for concurrent use; a scanner should prefer a
// Validator of its own.
func OnCurve(k *Key) bool {
	return onCurve(k)
}

// Validator checks keys against P-224 with a cache of recent answers. It
// is not safe for concurrent use: give each goroutine its own.
//
// The cache is set-associative, cacheWays entries per set with
// round-robin replacement, so that two busy keys landing in the same set
// do not evict each other on every frame, as they would in a
// direct-mapped cache.
type Validator struct {
	mask   uint64
	sets   []cacheSet
	hits   uint64
	misses uint64
}

const cacheWays = 4

type cacheSet struct {
	keys  [cacheWays]Key
	state [cacheWays]uint8 // cacheEmpty, 1 on the curve, 2 off it
	next  uint8
}

// NewValidator returns a Validator whose cache holds up to slots answers,
// rounded up to a power of two of at least cacheWays; 0 disables the
// cache. A few thousand slots cover every device in radio range for a
// key's 15-minute life.
func NewValidator(slots int) *Validator {
	v := &Validator{}
	if slots > 0 {
		n := 1
		for n*cacheWays < slots {
			n <<= 1
		}
		v.sets = make([]cacheSet, n)
		v.mask = uint64(n - 1)
	}
	return v
}

// Valid reports whether k is the x-coordinate of a point on P-224.
func (v *Validator) Valid(k *Key) bool {
	if v.sets == nil {
		v.misses++
		return onCurve(k)
	}
	// Keys are uniformly distributed, so any eight of their bytes make a
	// good index; the cache only ever costs time, never correctness.
	s := &v.sets[binary.LittleEndian.Uint64(k[20:28])&v.mask]
	for i := range s.keys {
		if s.state[i] != cacheEmpty && s.keys[i] == *k {
			v.hits++
			return s.state[i] == 1
		}
	}
	v.misses++
	ok := onCurve(k)
	i := s.next
	s.next = (s.next + 1) % cacheWays
	s.keys[i] = *k
	s.state[i] = 2
	if ok {
		s.state[i] = 1
	}
	return ok
}

// CacheStats returns how many checks the cache answered and how many it
// had to compute.
func (v *Validator) CacheStats() (hits, misses uint64) { return v.hits, v.misses }
