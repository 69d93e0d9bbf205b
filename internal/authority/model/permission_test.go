package model

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

type parseCase struct {
	Name  string `json:"name"`
	Input string `json:"input"`
	Want  string `json:"want"`
	Err   string `json:"err"`
}

func loadParseCases(t testing.TB) []parseCase {
	t.Helper()
	raw, err := os.ReadFile("testdata/parse.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []parseCase
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatalf("testdata/parse.json: %v", err)
	}
	return cases
}

func TestParsePermissionNumber(t *testing.T) {
	for _, tc := range loadParseCases(t) {
		t.Run(tc.Name, func(t *testing.T) {
			got, err := ParsePermissionNumber(tc.Input)
			if tc.Err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.Err) {
					t.Fatalf("ParsePermissionNumber(%q) = %q, %v; want error containing %q", tc.Input, got, err, tc.Err)
				}
				return
			}
			if err != nil || string(got) != tc.Want {
				t.Fatalf("ParsePermissionNumber(%q) = %q, %v; want %q", tc.Input, got, err, tc.Want)
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
	for _, tc := range loadParseCases(f) {
		f.Add(tc.Input)
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
