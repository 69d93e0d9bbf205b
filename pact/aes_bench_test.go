package pact

import (
	"crypto/aes"
	"crypto/cipher"
	"testing"
)

// The fixed costs of Go's AES that bound the chirp figures (spec §4.4,
// docs/performance.md): one block encrypted alone, and setting up a CTR
// stream on an expanded key.

func BenchmarkAESBlockEncrypt(b *testing.B) {
	var seed Seed
	block, err := aes.NewCipher(seed[:])
	if err != nil {
		b.Fatal(err)
	}
	var buf [aes.BlockSize]byte
	for b.Loop() {
		block.Encrypt(buf[:], buf[:])
	}
}

func BenchmarkAESNewCTR(b *testing.B) {
	var seed Seed
	block, err := aes.NewCipher(seed[:])
	if err != nil {
		b.Fatal(err)
	}
	iv := prfBlock(chirpDomain, 0)
	b.ReportAllocs()
	for b.Loop() {
		cipher.NewCTR(block, iv[:])
	}
}
