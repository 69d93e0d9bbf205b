package main

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/pact-findmy/pact-findmy/internal/authority/feed"
	"github.com/pact-findmy/pact-findmy/internal/cli"
	"github.com/pact-findmy/pact-findmy/internal/keyfile"
)

// The testing authority and the exposure database apart (docs/deploy.md):
// the authority writes a signed feed of the keyed hashes of its valid
// numbers, the exposure database imports it.

// authorityFeed writes the feed of the numbers valid now.
func authorityFeed(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("authority feed", "--data DIR --out FILE [--valid-for 2h]", stdout, stderr)
	var sf storeFlags
	sf.register(fs.FlagSet)
	out := fs.String("out", "", "file to write the signed feed to, replaced in one rename (required)")
	validFor := fs.Duration("valid-for", 2*time.Hour, "how long the exposure database may rely on this feed: a number revoked now stays spendable there until the next feed is imported, at most this long")
	if err := fs.ParseNoArgs(args); err != nil {
		return err
	}
	if *out == "" {
		return cli.Required("out")
	}
	if *validFor < time.Minute {
		return cli.FlagErrorf("valid-for", *validFor, "want a minute or more")
	}
	store, err := sf.open(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	key, err := keyfile.FeedSigningKey(sf.data)
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	hashes, err := store.ValidPermissionHashes(ctx, now)
	if err != nil {
		return err
	}
	// Wall-clock milliseconds only grow between feeds minutes apart; a
	// clock set back makes the exposure database refuse the feed (stale)
	// rather than take an old one.
	sequence := uint64(now.UnixMilli())
	until := now.Add(*validFor)
	data, err := feed.Encode(sequence, until, hashes, key)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(*out, data); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "wrote feed %d: %d valid numbers, valid until %s, to %s\n", sequence, len(hashes), until.Format(time.RFC3339), *out)
	return nil
}

// authorityFeedKey prints the feed's public key for the exposure database.
func authorityFeedKey(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("authority feed-key", "--data DIR", stdout, stderr)
	data := fs.String("data", "", "the authority's data directory (required)")
	if err := fs.ParseNoArgs(args); err != nil {
		return err
	}
	if *data == "" {
		return cli.Required("data")
	}
	key, err := keyfile.FeedSigningKey(*data)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, base64.StdEncoding.EncodeToString(key.Public().(ed25519.PublicKey)))
	return err
}

// importNumbers imports a feed into the exposure database's store.
func importNumbers(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("import-numbers", "--data DIR --feed FILE --authority-key BASE64", stdout, stderr)
	var sf storeFlags
	sf.register(fs.FlagSet)
	path := fs.String("feed", "", "the signed feed written by `pact-server authority feed` (required)")
	keyText := fs.String("authority-key", "", "the authority's feed key, as `pact-server authority feed-key` prints it (required)")
	if err := fs.ParseNoArgs(args); err != nil {
		return err
	}
	if *path == "" {
		return cli.Required("feed")
	}
	if *keyText == "" {
		return cli.Required("authority-key")
	}
	pub, err := base64.StdEncoding.DecodeString(*keyText)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return cli.FlagErrorf("authority-key", *keyText, "want the base64 of a %d-byte Ed25519 public key", ed25519.PublicKeySize)
	}
	data, err := os.ReadFile(*path)
	if err != nil {
		return fmt.Errorf("reading the number feed: %w", err)
	}
	f, err := feed.Decode(data, ed25519.PublicKey(pub))
	if err != nil {
		return fmt.Errorf("number feed %s: %w", *path, err)
	}
	now := time.Now()
	if !now.Before(f.ValidUntil) {
		return fmt.Errorf("number feed %s: %w: it was valid until %s", *path, errFeedExpired, f.ValidUntil.Format(time.RFC3339))
	}
	store, err := sf.open(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	r, err := store.ImportNumbers(ctx, f.Sequence, f.Hashes, f.ValidUntil)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "imported feed %d: %d added, %d removed, %d valid numbers known\n", f.Sequence, r.Added, r.Removed, r.Total)
	return nil
}

// errFeedExpired is a feed past its validity: importing it would extend
// numbers the authority may have revoked since.
var errFeedExpired = errors.New("number feed has expired")

// writeFileAtomic writes data to path with mode 0600 through a synced
// temporary file and one rename, so a reader sees the old or the new feed.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
