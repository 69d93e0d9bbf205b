package main

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/pact-findmy/pact-findmy/internal/authority/model"
	"github.com/pact-findmy/pact-findmy/internal/cli"
	"github.com/pact-findmy/pact-findmy/internal/server"
)

// maxIssue bounds one issue so that a typo in --count cannot fill the disk.
const maxIssue = 1_000_000

func issue(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("authority issue", "--data DIR --provider NAME --count N [flags]", stdout, stderr)
	var sf storeFlags
	sf.register(fs.FlagSet)
	provider := fs.String("provider", "", "health provider receiving the numbers (required)")
	count := fs.Int("count", 0, "how many numbers to issue (required)")
	validFor := fs.Duration("valid-for", 30*24*time.Hour, "how long the numbers stay valid")
	format := fs.String("format", "text", "output: text (one number per line) or csv (provider,batch,number,expires)")
	if err := fs.ParseNoArgs(args); err != nil {
		return err
	}
	if *provider == "" {
		return cli.Required("provider")
	}
	if *count < 1 || *count > maxIssue {
		return cli.FlagErrorf("count", *count, "want 1..%d", maxIssue)
	}
	if *format != "text" && *format != "csv" {
		return cli.FlagErrorf("format", *format, "want text or csv")
	}
	if *validFor <= 0 {
		return cli.FlagErrorf("valid-for", *validFor, "want a positive duration")
	}
	store, err := sf.open(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	hasher, err := sf.hasher()
	if err != nil {
		return err
	}
	numbers, hashes, err := drawNumbers(hasher, *count)
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	expires := now.Add(*validFor)
	id, err := store.IssuePermissions(ctx, *provider, hashes, now, expires)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "issued batch %d: %d numbers to %q, valid until %s; they are not stored and cannot be shown again\n",
		id, *count, *provider, expires.Format(time.RFC3339))
	if *format == "csv" {
		w := csv.NewWriter(stdout)
		w.Write([]string{"provider", "batch", "number", "expires"})
		for _, n := range numbers {
			w.Write([]string{*provider, strconv.FormatInt(id, 10), n.Grouped(), expires.Format(time.RFC3339)})
		}
		w.Flush()
		return w.Error()
	}
	for _, n := range numbers {
		if _, err := fmt.Fprintln(stdout, n.Grouped()); err != nil {
			return err
		}
	}
	return nil
}

// drawNumbers draws n new permission numbers and their keyed hashes.
func drawNumbers(hasher *model.Hasher, n int) ([]model.PermissionNumber, [][]byte, error) {
	numbers := make([]model.PermissionNumber, n)
	hashes := make([][]byte, n)
	for i := range numbers {
		var err error
		if numbers[i], err = model.NewPermissionNumber(nil); err != nil {
			return nil, nil, err
		}
		hashes[i] = hasher.Hash(numbers[i])
	}
	return numbers, hashes, nil
}

func revoke(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("authority revoke", "--data DIR --batch ID", stdout, stderr)
	var sf storeFlags
	sf.register(fs.FlagSet)
	id := fs.Int64("batch", 0, "id of the batch to revoke, as printed by issue and list (required)")
	if err := fs.ParseNoArgs(args); err != nil {
		return err
	}
	if *id <= 0 {
		return cli.FlagErrorf("batch", *id, "want a batch id")
	}
	store, err := sf.open(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	if err := store.RevokePermissionBatch(ctx, *id); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "revoked batch %d\n", *id)
	return nil
}

func list(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("authority list", "--data DIR", stdout, stderr)
	var sf storeFlags
	sf.register(fs.FlagSet)
	if err := fs.ParseNoArgs(args); err != nil {
		return err
	}
	store, err := sf.open(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	batches, err := store.PermissionBatches(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%-6s %-30s %8s %8s %-8s %-20s %s\n", "BATCH", "PROVIDER", "ISSUED", "USED", "STATE", "ISSUED AT", "EXPIRES")
	now := time.Now()
	for _, b := range batches {
		state := "active"
		switch {
		case b.Revoked:
			state = "revoked"
		case !now.Before(b.ExpiresAt):
			state = "expired"
		}
		fmt.Fprintf(stdout, "%-6d %-30s %8d %8d %-8s %-20s %s\n", b.ID, b.Provider, b.Issued, b.Used, state,
			b.IssuedAt.Format(time.RFC3339), b.ExpiresAt.Format(time.RFC3339))
	}
	return nil
}

// serverJob parses the flags of a one-shot job on the server's store,
// opens the store and the server on it, and runs job.
func serverJob(ctx context.Context, name string, args []string, stdout, stderr io.Writer, job func(*server.Server) error) error {
	fs := newFlagSet(name, "--data DIR [flags]", stdout, stderr)
	var sf storeFlags
	var vf serverFlags
	sf.register(fs.FlagSet)
	vf.register(fs.FlagSet)
	if err := fs.ParseNoArgs(args); err != nil {
		return err
	}
	log := sf.log.Logger(stderr)
	srv, store, err := newServer(ctx, &sf, &vf, log)
	if err != nil {
		return err
	}
	defer store.Close()
	return job(srv)
}

func cutBatches(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return serverJob(ctx, "cut-batches", args, stdout, stderr, func(srv *server.Server) error {
		infos, err := srv.CutOnce(ctx)
		if err != nil {
			return err
		}
		for _, b := range infos {
			fmt.Fprintf(stdout, "%s\t%d uploads\t%d entries\t%d bytes\n", b.ID(), b.Uploads, b.Entries, b.Size)
		}
		return nil
	})
}

func cleanup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return serverJob(ctx, "cleanup", args, stdout, stderr, func(srv *server.Server) error {
		r, err := srv.Cleanup(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "deleted %d uploads, %d batches, %d expired permission numbers\n", r.Uploads, r.Batches, r.PermissionNumbers)
		return nil
	})
}
