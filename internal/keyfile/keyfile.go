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
)

// loadOrCreate returns the size-byte secret in path, creating it from
// crypto/rand if absent.
func loadOrCreate(path string, size int) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		b = make([]byte, size)
		if _, err := rand.Read(b); err != nil {
			return nil, fmt.Errorf("generating %s: %w", path, err)
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			// Another process created it first: use theirs.
			return loadOrCreate(path, size)
		}
		if err != nil {
			return nil, fmt.Errorf("creating %s: %w", path, err)
		}
		_, werr := f.Write(b)
		serr := f.Sync()
		if err := errors.Join(werr, serr, f.Close()); err != nil {
			return nil, fmt.Errorf("writing %s: %w", path, err)
		}
		return b, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("checking %s: %w", path, err)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%s has mode %04o: readable by others; run chmod 600 %s", path, perm, path)
	}
	if len(b) != size {
		return nil, fmt.Errorf("%s holds %d bytes, want %d", path, len(b), size)
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
