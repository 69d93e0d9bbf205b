package feed

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/golden.feed")

var testKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0x24}, ed25519.SeedSize))

func testPub() ed25519.PublicKey { return testKey.Public().(ed25519.PublicKey) }

func hashes(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		h := sha256.Sum256([]byte(fmt.Sprint("number ", i)))
		out[i] = h[:]
	}
	return out
}

var validUntil = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

// TestGolden pins the bytes of a feed of three hashes (given out of order
// and with a repeat) at sequence 7.
func TestGolden(t *testing.T) {
	in := append(hashes(3), hashes(1)...)
	slices.Reverse(in)
	b, err := Encode(7, validUntil, in, testKey)
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile("testdata/golden.feed", b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile("testdata/golden.feed")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, want) {
		t.Fatalf("encoding changed: %d bytes, golden %d; run go test -update if intended", len(b), len(want))
	}
	f, err := Decode(want, testPub())
	if err != nil {
		t.Fatal(err)
	}
	sorted := hashes(3)
	slices.SortFunc(sorted, bytes.Compare)
	if f.Sequence != 7 || !f.ValidUntil.Equal(validUntil) || !slices.EqualFunc(f.Hashes, sorted, bytes.Equal) {
		t.Fatalf("decoded %d, %s, %x", f.Sequence, f.ValidUntil, f.Hashes)
	}
}

func TestDecodeRefuses(t *testing.T) {
	good, err := Encode(9, validUntil, hashes(4), testKey)
	if err != nil {
		t.Fatal(err)
	}
	other := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32))
	resign := func(b []byte) []byte {
		body := b[:len(b)-ed25519.SignatureSize]
		return append(slices.Clone(body), ed25519.Sign(testKey, body)...)
	}
	cases := []struct {
		name   string
		mutate func([]byte) []byte
		want   error
	}{
		{"flipped hash bit", func(b []byte) []byte { b[headerSize+5] ^= 1; return b }, ErrSignature},
		{"sequence raised", func(b []byte) []byte { b[20]++; return b }, ErrSignature},
		{"truncated", func(b []byte) []byte { return b[:len(b)-1] }, ErrFormat},
		{"hash appended", func(b []byte) []byte { return append(b, make([]byte, HashSize)...) }, ErrFormat},
		{"empty", func([]byte) []byte { return nil }, ErrFormat},
		{"wrong magic", func(b []byte) []byte { b[3] = 'X'; return b }, ErrFormat},
		{"future version", func(b []byte) []byte { b[4] = 2; return b }, ErrFormat},
		{"signed by another key", func(b []byte) []byte {
			body := b[:len(b)-ed25519.SignatureSize]
			return append(slices.Clone(body), ed25519.Sign(other, body)...)
		}, ErrSignature},
		{"two hashes swapped, signed", func(b []byte) []byte {
			x := slices.Clone(b[headerSize : headerSize+HashSize])
			copy(b[headerSize:], b[headerSize+HashSize:headerSize+2*HashSize])
			copy(b[headerSize+HashSize:], x)
			return resign(b)
		}, ErrOrder},
		{"validity past 2^62 s, signed", func(b []byte) []byte { b[21] = 0x80; return resign(b) }, ErrFormat},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Decode(tc.mutate(slices.Clone(good)), testPub()); !errors.Is(err, tc.want) {
				t.Fatalf("Decode = %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := Decode(good, other.Public().(ed25519.PublicKey)); !errors.Is(err, ErrKey) {
		t.Fatalf("verifying with another key: %v, want ErrKey", err)
	}
	if _, err := Encode(1, validUntil, [][]byte{{1, 2, 3}}, testKey); !errors.Is(err, ErrFormat) {
		t.Fatalf("encoding a 3-byte hash: %v, want ErrFormat", err)
	}
}

func FuzzDecode(f *testing.F) {
	golden, err := os.ReadFile("testdata/golden.feed")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(golden)
	f.Add(golden[:headerSize])
	f.Fuzz(func(t *testing.T, b []byte) {
		// Behind the signature, which the fuzzer cannot forge: the reader
		// must not panic, and what it accepts must re-encode to itself.
		got, err := decodeUnverified(b)
		if err != nil {
			return
		}
		again, err := Encode(got.Sequence, got.ValidUntil, got.Hashes, testKey)
		if err != nil {
			t.Fatalf("decoded feed does not re-encode: %v", err)
		}
		if !bytes.Equal(again[13:len(again)-ed25519.SignatureSize], b[13:len(b)-ed25519.SignatureSize]) {
			t.Fatalf("decoded feed re-encodes to other bytes")
		}
	})
}
