package main

import (
	"bytes"
	"crypto/ed25519"
)

func testSigningKey() ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, ed25519.SeedSize))
}
