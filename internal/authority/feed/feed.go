// Package feed is the number feed of a testing authority run apart from
// the exposure database (docs/deploy.md, "Authority and exposure database
// apart"): the keyed hashes of every permission number that is valid now,
// and nothing else, signed by the authority, which the exposure database
// imports in place of the numbers it did not issue.
//
// Layout (all integers big-endian):
//
//	magic "PCTF" | version 1 | key id (8) | sequence (8) | valid until (8, unix seconds)
//	count N (4) | N hashes of 32 bytes, strictly ascending
//	signature (64): Ed25519 over every byte before it
//
// A feed lists the set of valid hashes whole, sorted, so it says nothing
// of which provider, issue or batch a hash came from, nor in which order
// numbers were issued; a number revoked or expired is simply absent from
// the next feed. The sequence only grows, so that an old feed, which may
// list numbers revoked since, cannot be imported again.
package feed

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Magic opens every feed.
var Magic = [4]byte{'P', 'C', 'T', 'F'}

// Version is the format version.
const Version = 1

// HashSize is the size of a number's keyed hash (HMAC-SHA256).
const HashSize = sha256.Size

// MaxHashes bounds a decoded feed: 64 million valid numbers.
const MaxHashes = 1 << 26

const headerSize = 4 + 1 + 8 + 8 + 8 + 4

// Feed is a decoded, verified feed.
type Feed struct {
	Sequence   uint64
	ValidUntil time.Time
	// Hashes are strictly ascending.
	Hashes [][]byte
}

// Errors of Decode, wrapped with the value at fault.
var (
	ErrFormat    = errors.New("malformed number feed")
	ErrSignature = errors.New("number feed signature does not verify")
	ErrKey       = errors.New("number feed is signed by a different key")
	ErrOrder     = errors.New("number feed hashes are not strictly ascending")
)

// KeyID names a feed key: the first 8 bytes of SHA-256 of the public key.
func KeyID(pub ed25519.PublicKey) [8]byte {
	sum := sha256.Sum256(pub)
	return [8]byte(sum[:8])
}

// Encode sorts hashes, drops duplicates and returns the feed signed with
// key. Every hash must have HashSize bytes.
func Encode(sequence uint64, validUntil time.Time, hashes [][]byte, key ed25519.PrivateKey) ([]byte, error) {
	if len(key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("encoding number feed: signing key has %d bytes, want %d", len(key), ed25519.PrivateKeySize)
	}
	sorted := slices.Clone(hashes)
	slices.SortFunc(sorted, bytes.Compare)
	sorted = slices.CompactFunc(sorted, bytes.Equal)
	if len(sorted) > MaxHashes {
		return nil, fmt.Errorf("encoding number feed: %d hashes, limit %d: %w", len(sorted), MaxHashes, ErrFormat)
	}
	out := make([]byte, 0, headerSize+HashSize*len(sorted)+ed25519.SignatureSize)
	out = append(out, Magic[:]...)
	out = append(out, Version)
	id := KeyID(key.Public().(ed25519.PublicKey))
	out = append(out, id[:]...)
	out = binary.BigEndian.AppendUint64(out, sequence)
	out = binary.BigEndian.AppendUint64(out, uint64(validUntil.Unix()))
	out = binary.BigEndian.AppendUint32(out, uint32(len(sorted)))
	for i, h := range sorted {
		if len(h) != HashSize {
			return nil, fmt.Errorf("encoding number feed: hash %d has %d bytes, want %d: %w", i, len(h), HashSize, ErrFormat)
		}
		out = append(out, h...)
	}
	return append(out, ed25519.Sign(key, out)...), nil
}

// Decode verifies b with pub and returns the feed. It refuses a feed whose
// length does not match its count, whose hashes are not strictly
// ascending (so that one feed has one encoding), or whose validity ends
// after 2^62 seconds.
func Decode(b []byte, pub ed25519.PublicKey) (*Feed, error) {
	if err := checkLayout(b); err != nil {
		return nil, err
	}
	if id := KeyID(pub); [8]byte(b[5:13]) != id {
		return nil, fmt.Errorf("%w: key id %x, expected %x", ErrKey, b[5:13], id)
	}
	body := b[:len(b)-ed25519.SignatureSize]
	if !ed25519.Verify(pub, body, b[len(body):]) {
		return nil, ErrSignature
	}
	return decodeUnverified(b)
}

// checkLayout checks magic, version and that the length matches the count.
func checkLayout(b []byte) error {
	if len(b) < headerSize+ed25519.SignatureSize {
		return fmt.Errorf("%w: %d bytes is shorter than the header and signature (%d)", ErrFormat, len(b), headerSize+ed25519.SignatureSize)
	}
	if [4]byte(b[:4]) != Magic {
		return fmt.Errorf("%w: magic %x, want %x", ErrFormat, b[:4], Magic)
	}
	if b[4] != Version {
		return fmt.Errorf("%w: version %d, want %d", ErrFormat, b[4], Version)
	}
	n := uint64(binary.BigEndian.Uint32(b[29:33]))
	if n > MaxHashes {
		return fmt.Errorf("%w: %d hashes, limit %d", ErrFormat, n, MaxHashes)
	}
	if want := uint64(headerSize) + n*HashSize + ed25519.SignatureSize; uint64(len(b)) != want {
		return fmt.Errorf("%w: %d bytes, %d hashes need %d", ErrFormat, len(b), n, want)
	}
	return nil
}

// decodeUnverified reads a feed whose signature is checked elsewhere.
func decodeUnverified(b []byte) (*Feed, error) {
	if err := checkLayout(b); err != nil {
		return nil, err
	}
	until := binary.BigEndian.Uint64(b[21:29])
	if until > 1<<62 {
		return nil, fmt.Errorf("%w: valid until %d seconds", ErrFormat, until)
	}
	n := int(binary.BigEndian.Uint32(b[29:33]))
	f := &Feed{
		Sequence:   binary.BigEndian.Uint64(b[13:21]),
		ValidUntil: time.Unix(int64(until), 0).UTC(),
		Hashes:     make([][]byte, n),
	}
	for i := range f.Hashes {
		f.Hashes[i] = b[headerSize+i*HashSize : headerSize+(i+1)*HashSize]
		if i > 0 && bytes.Compare(f.Hashes[i-1], f.Hashes[i]) >= 0 {
			return nil, fmt.Errorf("%w: hash %d is not after hash %d", ErrOrder, i, i-1)
		}
	}
	return f, nil
}
