// Command pact-server is the exposure database and testing authority
// (docs/api.md): it issues permission numbers to health providers, accepts
// uploads paid for with them, and publishes signed exposure batches.
//
//	pact-server serve     --addr 127.0.0.1:8080 --data DIR [--postgres URL]
//	pact-server authority issue  --data DIR --provider NAME --count N
//	pact-server authority revoke --data DIR --batch ID
//	pact-server authority list   --data DIR
//	pact-server authority feed   --data DIR --out FILE
//	pact-server import-numbers --data DIR --feed FILE --authority-key KEY
//	pact-server cut-batches --data DIR
//	pact-server cleanup     --data DIR
//	pact-server loadtest    --data DIR [--postgres URL]
//	pact-server scale-out   --postgres URL [--replicas 2]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pact-findmy/pact-findmy/internal/authority/model"
	"github.com/pact-findmy/pact-findmy/internal/cli"
	"github.com/pact-findmy/pact-findmy/internal/database"
	"github.com/pact-findmy/pact-findmy/internal/database/postgresdb"
	"github.com/pact-findmy/pact-findmy/internal/database/sqlitedb"
	"github.com/pact-findmy/pact-findmy/internal/keyfile"
	"github.com/pact-findmy/pact-findmy/internal/server"
)

var program = &cli.Program{
	Name:        "pact-server",
	Description: "pact-server is the exposure database and testing authority (docs/api.md).",
	Commands: []cli.Command{
		{Name: "serve", Summary: "run the HTTP API, the batch cutter and the retention cleanup", Run: serve},
		{Name: "authority", Summary: "manage permission numbers", Commands: []cli.Command{
			{Name: "issue", Summary: "issue permission numbers to a health provider (printed one per line)", Run: issue},
			{Name: "revoke", Summary: "revoke a batch of permission numbers", Run: revoke},
			{Name: "list", Summary: "list issued batches with their counts", Run: list},
			{Name: "feed", Summary: "write the signed feed of valid number hashes for a separate exposure database", Run: authorityFeed},
			{Name: "feed-key", Summary: "print the public key that signs the number feed", Run: authorityFeedKey},
		}},
		{Name: "import-numbers", Summary: "import a separate testing authority's number feed", Run: importNumbers},
		{Name: "cut-batches", Summary: "cut pending uploads of closed periods into signed batches now", Run: cutBatches},
		{Name: "cleanup", Summary: "delete uploads, batches and numbers past retention now", Run: cleanup},
		{Name: "loadtest", Summary: "measure uploads per second on loopback", Run: loadtest},
		{Name: "scale-out", Summary: "one replica, then two, on one PostgreSQL under concurrent uploads and cuts: checks and throughput", Run: scaleOut},
	},
}

func main() { os.Exit(cli.Main(run)) }

// run is main without the process: tests call it directly.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return program.Run(ctx, args, stdout, stderr)
}

// storeFlags are the flags every command that opens the database shares.
type storeFlags struct {
	data       string
	postgres   string
	sqliteSync string
	log        cli.LogFlags
}

func (f *storeFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.data, "data", "", "data directory: SQLite database (unless --postgres) and the secret key files (required)")
	fs.StringVar(&f.postgres, "postgres", "", "PostgreSQL URL, e.g. postgres://user:pass@host:5432/db; replaces SQLite")
	fs.StringVar(&f.sqliteSync, "sqlite-sync", "full", "SQLite synchronous mode: full (survives power loss) or normal (survives process crashes)")
	f.log.Register(fs)
}

func (f *storeFlags) open(ctx context.Context) (database.Store, error) {
	if f.data == "" {
		return nil, cli.Required("data")
	}
	if err := os.MkdirAll(f.data, 0o700); err != nil {
		return nil, fmt.Errorf("creating data directory: %w", err)
	}
	if f.postgres != "" {
		return postgresdb.Open(ctx, f.postgres, postgresdb.Options{})
	}
	return sqlitedb.Open(ctx, filepath.Join(f.data, "pact-server.db"), sqlitedb.Options{Sync: sqlitedb.Sync(strings.ToUpper(f.sqliteSync))})
}

func (f *storeFlags) hasher() (*model.Hasher, error) {
	secret, err := keyfile.PermissionSecret(f.data)
	if err != nil {
		return nil, err
	}
	return model.NewHasher(secret)
}

// newFlagSet returns the flag set of pact-server command name.
func newFlagSet(name, synopsis string, stdout, stderr io.Writer) *cli.FlagSet {
	return cli.NewFlagSet("pact-server "+name, synopsis, stdout, stderr)
}

// serverFlags configure a Server beyond the store.
type serverFlags struct {
	period          time.Duration
	uploadRetention time.Duration
	exportDir       string
	regions         string
	failuresPerHour int
	trustedProxies  string
	holdUploads     int
	maxHold         time.Duration
	noChaff         bool
}

func (f *serverFlags) register(fs *flag.FlagSet) {
	d := server.DefaultConfig()
	fs.DurationVar(&f.period, "period", time.Duration(d.PeriodMinutes)*time.Minute, "batch period (whole minutes dividing a day)")
	fs.DurationVar(&f.uploadRetention, "upload-retention", d.UploadRetention, "how long uploads and batches are kept")
	fs.StringVar(&f.exportDir, "export", "", "also write batches and listings as static files under this directory")
	fs.StringVar(&f.regions, "regions", "", "comma-separated regions to accept (default: any valid region name)")
	fs.IntVar(&f.failuresPerHour, "failures-per-hour", d.FailuresPerHour, "refused permission numbers allowed per client network (IPv4 address or IPv6 /64) per hour")
	fs.StringVar(&f.trustedProxies, "trusted-proxies", "", "comma-separated proxy addresses whose X-Forwarded-For is used for rate limiting")
	fs.IntVar(&f.holdUploads, "hold-uploads", d.HoldUploads, "hold a region's uploads until a batch holds at least this many (1 publishes every period's uploads at once)")
	fs.DurationVar(&f.maxHold, "max-hold", d.MaxHold, "publish held uploads anyway once the oldest has waited this long")
	fs.BoolVar(&f.noChaff, "no-chaff", false, "do not pad batches with chaff to a bucket size (reveals the upload count; for tests)")
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func (f *serverFlags) config() (server.Config, error) {
	if f.period < time.Minute || f.period%time.Minute != 0 {
		return server.Config{}, cli.FlagErrorf("period", f.period, "want whole minutes")
	}
	if f.holdUploads < 1 {
		return server.Config{}, cli.FlagErrorf("hold-uploads", f.holdUploads, "want 1 or more")
	}
	if f.maxHold < time.Minute {
		return server.Config{}, cli.FlagErrorf("max-hold", f.maxHold, "want a minute or more")
	}
	return server.Config{
		HoldUploads:     f.holdUploads,
		MaxHold:         f.maxHold,
		NoChaff:         f.noChaff,
		PeriodMinutes:   uint32(f.period / time.Minute),
		UploadRetention: f.uploadRetention,
		ExportDir:       f.exportDir,
		Regions:         splitList(f.regions),
		FailuresPerHour: f.failuresPerHour,
		TrustedProxies:  splitList(f.trustedProxies),
	}, nil
}

// newServer opens everything a Server needs.
func newServer(ctx context.Context, sf *storeFlags, vf *serverFlags, log *slog.Logger) (*server.Server, database.Store, error) {
	cfg, err := vf.config()
	if err != nil {
		return nil, nil, err
	}
	store, err := sf.open(ctx)
	if err != nil {
		return nil, nil, err
	}
	hasher, err := sf.hasher()
	if err != nil {
		store.Close()
		return nil, nil, err
	}
	key, err := keyfile.SigningKey(sf.data)
	if err != nil {
		store.Close()
		return nil, nil, err
	}
	srv, err := server.New(server.Options{Store: store, Hasher: hasher, SigningKey: key, Config: cfg, Logger: log})
	if err != nil {
		store.Close()
		return nil, nil, err
	}
	return srv, store, nil
}
