package pact

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"
)

// SeedSize is the length of a seed in bytes (spec §3).
const SeedSize = 32

// ChirpSize is the length of a chirp in bytes (spec §4).
const ChirpSize = 28

// Seed is the 256-bit secret from which one hour of chirps is computed
// (spec §3). It never leaves the device except in an upload its owner
// consents to.
type Seed [SeedSize]byte

// Chirp is the 28-byte value a device broadcasts during one minute (spec §4).
type Chirp [ChirpSize]byte

// NewSeed draws a fresh seed from r, which is crypto/rand.Reader when nil.
func NewSeed(r io.Reader) (Seed, error) {
	if r == nil {
		r = rand.Reader
	}
	var s Seed
	if _, err := io.ReadFull(r, s[:]); err != nil {
		return Seed{}, fmt.Errorf("pact: drawing a seed: %w", err)
	}
	return s, nil
}

// String returns the seed in lowercase hex.
func (s Seed) String() string { return hex.EncodeToString(s[:]) }

// String returns the chirp in lowercase hex.
func (c Chirp) String() string { return hex.EncodeToString(c[:]) }

// ParseSeed decodes a seed from 64 hex digits.
func ParseSeed(s string) (Seed, error) {
	var seed Seed
	if err := decodeHexInto(seed[:], s); err != nil {
		return Seed{}, fmt.Errorf("seed %q: %w", truncate(s), err)
	}
	return seed, nil
}

// ParseChirp decodes a chirp from 56 hex digits.
func ParseChirp(s string) (Chirp, error) {
	var c Chirp
	if err := decodeHexInto(c[:], s); err != nil {
		return Chirp{}, fmt.Errorf("chirp %q: %w", truncate(s), err)
	}
	return c, nil
}

// ErrHexLength is wrapped by the error of ParseSeed and ParseChirp for a
// string that is not twice as many hex digits as the value has bytes.
var ErrHexLength = errors.New("wrong number of hex digits")

func decodeHexInto(dst []byte, s string) error {
	if len(s) != 2*len(dst) {
		return fmt.Errorf("%w: want %d, got %d", ErrHexLength, 2*len(dst), len(s))
	}
	if _, err := hex.Decode(dst, []byte(s)); err != nil {
		return fmt.Errorf("not hex: %w", err)
	}
	return nil
}

func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// The PRF input block for minute t and half j (spec §4) is
//
//	domain (8 bytes) || uint64_be(2t + j)
//
// so the two blocks of minute t+1 directly follow those of minute t and an
// hour of chirps is one AES-CTR keystream. The domain keeps chirp inputs
// disjoint from every other use of a seed as an AES key (spec §4.2).
var chirpDomain = [8]byte{'P', 'A', 'C', 'T', 'c', 'h', 'r', 'p'}

func prfBlock(domain [8]byte, counter uint64) (b [aes.BlockSize]byte) {
	copy(b[:8], domain[:])
	binary.BigEndian.PutUint64(b[8:], counter)
	return b
}

// ChirpKey is a seed expanded for the chirp PRF. Expanding once and
// computing many chirps is how the matcher keeps the cost per chirp near
// the cost of AES itself. A ChirpKey is not safe for concurrent use: it
// encrypts in a scratch buffer of its own, because a buffer on the stack
// would escape to the heap through the cipher.Block interface on every
// call. Derive one per goroutine; it is cheap.
type ChirpKey struct {
	block   cipher.Block
	scratch [2 * aes.BlockSize]byte
}

// NewChirpKey expands seed into an AES-256 key schedule (spec §4.1).
func NewChirpKey(seed *Seed) *ChirpKey { return &ChirpKey{block: newChirpCipher(seed)} }

// newChirpCipher is the key schedule of NewChirpKey without the wrapper,
// for the matcher, which keeps no key beyond one tuple.
func newChirpCipher(seed *Seed) cipher.Block {
	block, err := aes.NewCipher(seed[:])
	if err != nil {
		// aes.NewCipher fails only for a key length other than 16, 24 or 32.
		panic("pact: AES-256 rejected a 32-byte key: " + err.Error())
	}
	return block
}

// encryptPair encrypts the blocks domain || 2t and domain || 2t+1 in the
// scratch buffer and returns it.
func (k *ChirpKey) encryptPair(domain *[8]byte, m Minute) *[2 * aes.BlockSize]byte {
	b := &k.scratch
	copy(b[0:8], domain[:])
	binary.BigEndian.PutUint64(b[8:16], 2*uint64(m))
	copy(b[16:24], domain[:])
	binary.BigEndian.PutUint64(b[24:32], 2*uint64(m)+1)
	k.block.Encrypt(b[:aes.BlockSize], b[:aes.BlockSize])
	k.block.Encrypt(b[aes.BlockSize:], b[aes.BlockSize:])
	return b
}

// Chirp returns PRF(seed, m) (spec §4.1).
func (k *ChirpKey) Chirp(m Minute) Chirp {
	return Chirp(k.encryptPair(&chirpDomain, m)[:ChirpSize])
}

// chirpBatch is how many minutes one CTR call covers: an hour.
const chirpBatch = MinutesPerHour

type keystream [chirpBatch * 2 * aes.BlockSize]byte

var (
	zeroKeystream keystream
	// keystreams recycles the buffers of Chirps: allocating one per call
	// cost as much as the keystream itself.
	keystreams = sync.Pool{New: func() any { return new(keystream) }}
)

// Chirps fills dst with the chirps of minutes from, from+1, ... in one
// AES-CTR pass per hour's worth of minutes (spec §4.3). It returns dst.
// The minutes must not run past 2^32-1: the counter would go on into
// blocks that belong to no minute.
func (k *ChirpKey) Chirps(from Minute, dst []Chirp) []Chirp {
	stream := keystreams.Get().(*keystream)
	defer keystreams.Put(stream)
	for done := 0; done < len(dst); {
		n := min(len(dst)-done, chirpBatch)
		iv := prfBlock(chirpDomain, 2*uint64(from)+2*uint64(done))
		cipher.NewCTR(k.block, iv[:]).XORKeyStream(stream[:n*2*aes.BlockSize], zeroKeystream[:n*2*aes.BlockSize])
		for i := 0; i < n; i++ {
			dst[done+i] = Chirp(stream[i*2*aes.BlockSize:])
		}
		done += n
	}
	return dst
}

// ChirpAt is PRF(seed, m) for a one-off computation.
func ChirpAt(seed *Seed, m Minute) Chirp { return NewChirpKey(seed).Chirp(m) }
