package model

import (
	"bytes"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
)

// parseCases are typed numbers: the canonical form each must give, or
// the error, and for a bad character which one at which position.
var parseCases = []struct {
	name     string
	input    string
	want     PermissionNumber
	err      error
	char     byte // for ErrSymbol
	position int
}{
	{name: "canonical", input: "78Z0378Z0378Z0378Z04", want: "78Z0378Z0378Z0378Z04"},
	{name: "grouped", input: "78Z03-78Z03-78Z03-78Z04", want: "78Z0378Z0378Z0378Z04"},
	{name: "spaces", input: "78Z03 78Z03 78Z03 78Z04", want: "78Z0378Z0378Z0378Z04"},
	{name: "lower case", input: "78z03-78z03-78z03-78z04", want: "78Z0378Z0378Z0378Z04"},
	{name: "O read as zero", input: "78ZO3-78Zo3-78Z03-78Z04", want: "78Z0378Z0378Z0378Z04"},
	{name: "I and L read as one", input: "I2345-6789A-BCDEF-GHJKJ", want: "123456789ABCDEFGHJKJ"},
	{name: "l read as one", input: "l2345-6789a-bcdef-ghjkj", want: "123456789ABCDEFGHJKJ"},
	{name: "single typo", input: "78Z03-78Z03-78Z03-78Z14", err: ErrChecksum},
	{name: "swap of 0 and Z", input: "780Z3-78Z03-78Z03-78Z04", err: ErrChecksum},
	{name: "adjacent swap", input: "87Z03-78Z03-78Z03-78Z04", err: ErrChecksum},
	{name: "too short", input: "78Z03-78Z03-78Z03-78Z0", err: ErrLength},
	{name: "too long", input: "78Z03-78Z03-78Z03-78Z04V", err: ErrLength},
	{name: "U is not a symbol", input: "78Z03-78Z03-78Z03-78ZU4", err: ErrSymbol, char: 'U', position: 22},
	{name: "punctuation", input: "78Z03_78Z03-78Z03-78Z04", err: ErrSymbol, char: '_', position: 6},
	{name: "empty", input: "", err: ErrLength},
	{name: "huge", input: strings.Repeat("0", 85), err: ErrLength},
}

func TestParsePermissionNumber(t *testing.T) {
	for _, tc := range parseCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParsePermissionNumber(tc.input)
			if tc.err == nil {
				if err != nil || got != tc.want {
					t.Fatalf("ParsePermissionNumber(%q) = %q, %v; want %q", tc.input, got, err, tc.want)
				}
				return
			}
			if !errors.Is(err, tc.err) {
				t.Fatalf("ParsePermissionNumber(%q) = %q, %v; want %v", tc.input, got, err, tc.err)
			}
			var se *SymbolError
			if errors.As(err, &se) != (tc.err == ErrSymbol) {
				t.Fatalf("ParsePermissionNumber(%q) = %v: a *SymbolError is %v", tc.input, err, se != nil)
			}
			if se != nil && (se.Char != tc.char || se.Position != tc.position) {
				t.Errorf("character %q at %d, want %q at %d", se.Char, se.Position, tc.char, tc.position)
			}
		})
	}
}

// Every single-symbol substitution and every adjacent transposition of a
// fresh number must be caught by the check symbol.
func TestCheckSymbolCatchesTypos(t *testing.T) {
	for range 20 {
		p, err := NewPermissionNumber(nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParsePermissionNumber(p.Grouped()); err != nil {
			t.Fatalf("fresh number %s rejected: %v", p.Grouped(), err)
		}
		for i := 0; i < len(p); i++ {
			for _, c := range crockford {
				if byte(c) == p[i] {
					continue
				}
				typo := string(p[:i]) + string(c) + string(p[i+1:])
				if _, err := ParsePermissionNumber(typo); err == nil {
					t.Fatalf("substitution %s of %s accepted", typo, p)
				}
			}
			if i+1 < len(p) && p[i] != p[i+1] {
				swapped := string(p[:i]) + string(p[i+1]) + string(p[i]) + string(p[i+2:])
				if _, err := ParsePermissionNumber(swapped); err == nil {
					t.Fatalf("transposition %s of %s accepted", swapped, p)
				}
			}
		}
	}
}

func TestNumbersAreDistinctAndUniform(t *testing.T) {
	const n = 2000
	seen := make(map[PermissionNumber]bool, n)
	var counts [32]int
	for range n {
		p, err := NewPermissionNumber(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if seen[p] {
			t.Fatalf("duplicate number %s", p)
		}
		seen[p] = true
		for i := 0; i < RandomSymbols; i++ {
			counts[strings.IndexByte(crockford, p[i])]++
		}
	}
	// Each symbol is expected n*19/32 ~ 1188 times; a skewed generator
	// (for example one reducing bytes mod 32 with bias) falls outside.
	for v, c := range counts {
		if c < 1000 || c > 1400 {
			t.Errorf("symbol %c drawn %d times, expected about %d", crockford[v], c, n*RandomSymbols/32)
		}
	}
}

func TestShortReaderFails(t *testing.T) {
	if _, err := NewPermissionNumber(bytes.NewReader([]byte{1, 2, 3})); err == nil {
		t.Fatal("a short random source must fail")
	}
}

func TestHasher(t *testing.T) {
	if _, err := NewHasher(make([]byte, 16)); err == nil {
		t.Fatal("a 16-byte secret must be refused")
	}
	a, _ := NewHasher(bytes.Repeat([]byte{1}, SecretSize))
	b, _ := NewHasher(bytes.Repeat([]byte{2}, SecretSize))
	p := PermissionNumber("78Z0378Z0378Z0378Z0V")
	if bytes.Equal(a.Hash(p), b.Hash(p)) {
		t.Fatal("hashes under different secrets must differ")
	}
	if !bytes.Equal(a.Hash(p), a.Hash(p)) || len(a.Hash(p)) != 32 {
		t.Fatal("hash must be deterministic and 32 bytes")
	}
}

func FuzzParsePermissionNumber(f *testing.F) {
	for _, tc := range parseCases {
		f.Add(tc.input)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePermissionNumber(s)
		if err != nil {
			return
		}
		again, err := ParsePermissionNumber(p.Grouped())
		if err != nil || again != p {
			t.Fatalf("canonical %q does not round-trip: %q, %v", p, again, err)
		}
	})
}
