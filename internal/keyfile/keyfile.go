// Package keyfile keeps the server's two secrets in its data directory:
// the HMAC key under which permission numbers are hashed and the Ed25519
// key that signs exposure batches. Both are created on first use with
// mode 0600 and refused if anyone but the owner can read them. Replicas
// sharing one PostgreSQL must share these files too.
package keyfile

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// File names inside the data directory.
const (
	PermissionSecretFile = "permission-secret"
	SigningKeyFile       = "batch-signing-key"
	// FeedSigningKeyFile signs a separate testing authority's number feed
	// (docs/deploy.md).
	FeedSigningKeyFile = "feed-signing-key"
)

// Reasons a key file is refused, wrapped in a *RefusedError.
var (
	// ErrReadableByOthers is a key file whose mode lets the group or
	// others read or write it.
	ErrReadableByOthers = errors.New("readable by others; run chmod 600 on it")
	// ErrSize is a key file that does not hold a key of the right size.
	ErrSize = errors.New("not the size of the key")
)

// RefusedError is a key file that exists but is not used: its path, mode
// and size, and why (ErrReadableByOthers or ErrSize).
type RefusedError struct {
	Path string
	Mode fs.FileMode
	Size int
	Err  error
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("%s (mode %04o, %d bytes): %v", e.Path, e.Mode, e.Size, e.Err)
}

func (e *RefusedError) Unwrap() error { return e.Err }

// loadOrCreate returns the size-byte secret in path, creating it from
// crypto/rand if absent.
func loadOrCreate(path string, size int) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		created, err := create(path, size)
		if errors.Is(err, fs.ErrExist) {
			// Another process created it first: use theirs.
			return loadOrCreate(path, size)
		}
		return created, err
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("checking %s: %w", path, err)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, &RefusedError{Path: path, Mode: perm, Size: len(b), Err: ErrReadableByOthers}
	}
	if len(b) != size {
		return nil, &RefusedError{Path: path, Mode: st.Mode().Perm(), Size: len(b), Err: ErrSize}
	}
	return b, nil
}

// create writes a new secret to a private temporary file and links it
// into place, so that path appears complete or not at all: a process
// starting at the same moment never reads a half-written secret, and a
// crash never leaves an empty one. It fails with fs.ErrExist when path
// already exists.
func create(path string, size int) ([]byte, error) {
	b := make([]byte, size)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("generating %s: %w", path, err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*") // mode 0600
	if err != nil {
		return nil, fmt.Errorf("creating %s: %w", path, err)
	}
	defer os.Remove(f.Name())
	_, werr := f.Write(b)
	serr := f.Sync()
	if err := errors.Join(werr, serr, f.Close()); err != nil {
		return nil, fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Link(f.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, err
		}
		return nil, fmt.Errorf("creating %s: %w", path, err)
	}
	// The new name must survive a power loss too: a lost secret would
	// void every issued number and the batch key with it.
	dir, err := os.Open(filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("syncing the directory of %s: %w", path, err)
	}
	defer dir.Close()
	if err := dir.Sync(); err != nil {
		return nil, fmt.Errorf("syncing the directory of %s: %w", path, err)
	}
	return b, nil
}

// PermissionSecret returns the 32-byte HMAC key in dir.
func PermissionSecret(dir string) ([]byte, error) {
	return loadOrCreate(filepath.Join(dir, PermissionSecretFile), 32)
}

// SigningKey returns the batch signing key in dir (stored as its 32-byte seed).
func SigningKey(dir string) (ed25519.PrivateKey, error) {
	seed, err := loadOrCreate(filepath.Join(dir, SigningKeyFile), ed25519.SeedSize)
	if err != nil {
		return nil, err
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// FeedSigningKey returns the number-feed signing key in dir (stored as its
// 32-byte seed).
func FeedSigningKey(dir string) (ed25519.PrivateKey, error) {
	seed, err := loadOrCreate(filepath.Join(dir, FeedSigningKeyFile), ed25519.SeedSize)
	if err != nil {
		return nil, err
	}
	return ed25519.NewKeyFromSeed(seed), nil
}
