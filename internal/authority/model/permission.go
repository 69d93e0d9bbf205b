// Package model holds the testing authority's data: permission numbers, the
// keyed hash under which the server stores them, and the batches in which
// they are issued to health providers (docs/api.md, "Permission numbers").
package model

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strings"
)

// crockford is the Crockford base32 alphabet: no I, L, O or U, so a number
// read aloud or copied by hand has no look-alike letters.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// Shape of a permission number: 19 random symbols (95 bits, above the 80
// the protocol asks for) and one check symbol (a GF(32) polynomial code, see checkSymbol), written as four
// groups of five.
const (
	RandomSymbols = 19
	Symbols       = RandomSymbols + 1
	GroupSize     = 5
	EntropyBits   = RandomSymbols * 5
)

// PermissionNumber is a number in canonical form: 20 upper-case Crockford
// symbols, no separators.
type PermissionNumber string

// Errors that ParsePermissionNumber wraps.
var (
	ErrLength   = errors.New("wrong number of symbols")
	ErrSymbol   = errors.New("not a Crockford base32 symbol")
	ErrChecksum = errors.New("check symbol does not match (typo?)")
)

// SymbolError is a permission number with a character that is neither a
// symbol nor a separator. It wraps ErrSymbol.
type SymbolError struct {
	Char     byte // the byte at fault (one byte of a multi-byte character)
	Position int  // its position in the input, from 1
}

func (e *SymbolError) Error() string {
	return fmt.Sprintf("permission_number character %q at position %d: %v", e.Char, e.Position, ErrSymbol)
}

func (e *SymbolError) Unwrap() error { return ErrSymbol }

// symbolValue maps an input byte to its value, folding case and the
// Crockford look-alikes I, L -> 1 and O -> 0; -1 for anything else.
var symbolValue = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	for v, c := range crockford {
		t[c] = int8(v)
		t[c|0x20] = int8(v) // lower case; digits are unaffected
	}
	for _, c := range "iIlL" {
		t[c] = 1
	}
	t['o'], t['O'] = 0, 0
	return t
}()

// mulAlpha multiplies a GF(32) element by the generator alpha, reducing by
// the primitive polynomial x^5 + x^2 + 1.
func mulAlpha(x int) int {
	x <<= 1
	if x&32 != 0 {
		x ^= 0b100101
	}
	return x
}

// checkSymbol returns the value c for which the polynomial with
// coefficients vals, c (in GF(32)) vanishes at alpha. A substitution of one
// symbol adds e*alpha^k != 0 and a swap of two different symbols at
// positions less than 31 apart adds (a+b)(alpha^i+alpha^j) != 0, so every
// single typo and every transposition is caught, unlike Luhn mod 32, which
// misses the swap of 0 and Z.
func checkSymbol(vals []int) int {
	acc := 0
	for _, v := range vals {
		acc = mulAlpha(acc) ^ v
	}
	return mulAlpha(acc)
}

// NewPermissionNumber draws a number from r (crypto/rand.Reader when nil).
func NewPermissionNumber(r io.Reader) (PermissionNumber, error) {
	if r == nil {
		r = rand.Reader
	}
	var raw [RandomSymbols]byte
	if _, err := io.ReadFull(r, raw[:]); err != nil {
		return "", fmt.Errorf("drawing a permission number: %w", err)
	}
	vals := make([]int, RandomSymbols)
	var b strings.Builder
	b.Grow(Symbols)
	for i, x := range raw {
		// Keeping the low five bits of a uniform byte is uniform over 32.
		vals[i] = int(x & 31)
		b.WriteByte(crockford[vals[i]])
	}
	b.WriteByte(crockford[checkSymbol(vals)])
	return PermissionNumber(b.String()), nil
}

// ParsePermissionNumber accepts a number with or without separators
// (hyphens, spaces), in any case, with the Crockford look-alikes, and
// returns its canonical form after checking the check symbol.
func ParsePermissionNumber(s string) (PermissionNumber, error) {
	if len(s) > 4*Symbols {
		return "", fmt.Errorf("permission_number of %d characters: %w (want %d symbols)", len(s), ErrLength, Symbols)
	}
	vals := make([]int, 0, Symbols)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '-' || c == ' ' {
			continue
		}
		v := symbolValue[c]
		if v < 0 {
			return "", &SymbolError{Char: c, Position: i + 1}
		}
		vals = append(vals, int(v))
	}
	if len(vals) != Symbols {
		return "", fmt.Errorf("permission_number has %d symbols: %w (want %d)", len(vals), ErrLength, Symbols)
	}
	if checkSymbol(vals[:RandomSymbols]) != vals[RandomSymbols] {
		return "", fmt.Errorf("permission_number: %w", ErrChecksum)
	}
	var b strings.Builder
	for _, v := range vals {
		b.WriteByte(crockford[v])
	}
	return PermissionNumber(b.String()), nil
}

// Grouped formats the number for people: four groups of five symbols.
func (p PermissionNumber) Grouped() string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if i > 0 && i%GroupSize == 0 {
			b.WriteByte('-')
		}
		b.WriteByte(p[i])
	}
	return b.String()
}

// SecretSize is the length of the server secret that keys number hashes.
const SecretSize = 32

// Hasher computes the keyed hash under which a number is stored. Without
// the secret, a stolen database gives no way to test guesses offline.
type Hasher struct {
	secret []byte
}

// NewHasher returns a hasher keyed with secret, which must be SecretSize bytes.
func NewHasher(secret []byte) (*Hasher, error) {
	if len(secret) != SecretSize {
		return nil, fmt.Errorf("permission number secret: want %d bytes, got %d", SecretSize, len(secret))
	}
	return &Hasher{secret: append([]byte(nil), secret...)}, nil
}

// Hash returns HMAC-SHA256(secret, canonical number).
func (h *Hasher) Hash(p PermissionNumber) []byte {
	m := hmac.New(sha256.New, h.secret)
	m.Write([]byte(p))
	return m.Sum(nil)
}
