package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pact-findmy/pact-findmy/exposureclient"
	"github.com/pact-findmy/pact-findmy/internal/database"
	"github.com/pact-findmy/pact-findmy/internal/keyfile"
	"github.com/pact-findmy/pact-findmy/pact"
)

// TestAuthorityAndExposureApart runs the testing authority and the
// exposure database as two deployments with two stores (docs/deploy.md):
// numbers issued by the authority are spendable at the exposure database
// once its feed is imported, exactly once, and not after a revocation
// reaches it; neither store holds the other's data.
func TestAuthorityAndExposureApart(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testApart(t, nil) })
	t.Run("postgres exposure database", func(t *testing.T) {
		url := os.Getenv("PACT_TEST_POSTGRES_URL")
		if url == "" {
			msg := "PACT_TEST_POSTGRES_URL is not set: the PostgreSQL exposure database test DID NOT RUN"
			if os.Getenv("CI") == "true" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
		ctx := context.Background()
		var b [6]byte
		rand.Read(b[:])
		schema := "apart_" + hex.EncodeToString(b[:])
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `CREATE SCHEMA `+schema); err != nil {
			t.Fatal(err)
		}
		defer conn.Exec(ctx, `DROP SCHEMA `+schema+` CASCADE`)
		sep := "?"
		if strings.Contains(url, "?") {
			sep = "&"
		}
		testApart(t, []string{"--postgres", url + sep + "search_path=" + schema})
	})
}

func testApart(t *testing.T, exposureStore []string) {
	ctx := context.Background()
	authDir, expDir := t.TempDir(), t.TempDir()
	runOK := func(cmd func(context.Context, []string, io.Writer, io.Writer) error, args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		if err := cmd(ctx, args, &out, &errb); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, errb.String())
		}
		return out.String()
	}
	numbers := strings.Fields(runOK(issue, "--data", authDir, "--provider", "Cantonal Lab", "--count", "2"))
	revocable := strings.Fields(runOK(issue, "--data", authDir, "--provider", "Other Lab", "--count", "1"))
	// The one secret the two share: the key of the number hashes.
	secret, err := os.ReadFile(filepath.Join(authDir, keyfile.PermissionSecretFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(expDir, keyfile.PermissionSecretFile), secret, 0o600); err != nil {
		t.Fatal(err)
	}
	feedPath := filepath.Join(t.TempDir(), "numbers.feed")
	runOK(authorityFeed, "--data", authDir, "--out", feedPath)
	if fi, err := os.Stat(feedPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("feed file: %v, %v; want mode 0600", fi, err)
	}
	firstFeed, _ := os.ReadFile(feedPath)
	key := strings.TrimSpace(runOK(authorityFeedKey, "--data", authDir))
	importArgs := append([]string{"--data", expDir, "--feed", feedPath, "--authority-key", key}, exposureStore...)
	if out := runOK(importNumbers, importArgs...); !strings.Contains(out, "3 added") {
		t.Fatalf("first import: %q, want 3 numbers added", out)
	}

	// The exposure database serves uploads paid for with fed numbers.
	sf := storeFlags{data: expDir}
	if len(exposureStore) == 2 {
		sf.postgres = exposureStore[1]
	}
	var vf serverFlags
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	vf.register(fs)
	if err := fs.Parse([]string{"--hold-uploads", "1"}); err != nil {
		t.Fatal(err)
	}
	srv, store, err := newServer(ctx, &sf, &vf, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	send := func(number string, salt byte) error {
		now := pact.MinuteOf(time.Now())
		ts := []pact.Tuple{{Seed: pact.Seed{salt, 1}, Start: now.HourStart() - 60, End: now.HourStart() - 1}}
		_, err := exposureclient.SendUpload(ctx, nil, hs.URL, exposureclient.Upload{PermissionNumber: number, Region: "CH", Tuples: ts})
		return err
	}
	if err := send(numbers[0], 1); err != nil {
		t.Fatalf("upload with a fed number: %v", err)
	}
	if err := send(numbers[0], 2); !errors.Is(err, exposureclient.ErrPermissionUsed) {
		t.Fatalf("the same number again: %v, want ErrPermissionUsed", err)
	}

	// A revocation at the authority reaches the exposure database with
	// the next feed; the old feed cannot be imported again.
	var listing bytes.Buffer
	if err := list(ctx, []string{"--data", authDir}, &listing, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(listing.String(), "Other Lab") {
		t.Fatalf("authority list:\n%s", listing.String())
	}
	runOK(revoke, "--data", authDir, "--batch", "2")
	time.Sleep(2 * time.Millisecond) // the feed's sequence is in milliseconds
	runOK(authorityFeed, "--data", authDir, "--out", feedPath)
	if out := runOK(importNumbers, importArgs...); !strings.Contains(out, "1 removed") {
		t.Fatalf("import after the revocation: %q, want 1 removed", out)
	}
	if err := send(revocable[0], 3); !errors.Is(err, exposureclient.ErrPermissionUnknown) {
		t.Fatalf("a number revoked at the authority: %v, want ErrPermissionUnknown", err)
	}
	if err := send(numbers[1], 4); err != nil {
		t.Fatalf("the other valid number: %v", err)
	}
	oldPath := filepath.Join(t.TempDir(), "old.feed")
	os.WriteFile(oldPath, firstFeed, 0o600)
	oldArgs := append([]string{"--data", expDir, "--feed", oldPath, "--authority-key", key}, exposureStore...)
	if err := importNumbers(ctx, oldArgs, io.Discard, io.Discard); !errors.Is(err, database.ErrFeedStale) {
		t.Fatalf("importing the first feed again: %v, want ErrFeedStale", err)
	}
	wrongKey := append([]string{"--data", expDir, "--feed", feedPath, "--authority-key", strings.Repeat("A", 43) + "="}, exposureStore...)
	if err := importNumbers(ctx, wrongKey, io.Discard, io.Discard); err == nil {
		t.Fatal("a feed verified with another key was imported")
	}

	// What each store holds: the exposure database no provider, no issue;
	// the authority no upload and no spend.
	if pb, err := store.PermissionBatches(ctx); err != nil || len(pb) != 0 {
		t.Fatalf("exposure database holds permission batches %+v, %v", pb, err)
	}
	auth, err := (&storeFlags{data: authDir}).open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer auth.Close()
	pb, err := auth.PermissionBatches(ctx)
	if err != nil || len(pb) != 2 || pb[0].Used != 0 {
		t.Fatalf("authority batches %+v, %v: want 2, none known to be used", pb, err)
	}
	if b, err := auth.Batches(ctx, "", 0); err != nil || len(b) != 0 {
		t.Fatalf("authority store holds exposure batches %+v, %v", b, err)
	}
}
