// Command pact-server is the exposure database and testing authority
// (docs/api.md): it issues permission numbers to health providers, accepts
// uploads paid for with them, and publishes signed exposure batches.
//
//	pact-server serve     --addr 127.0.0.1:8080 --data DIR [--postgres URL]
//	pact-server authority issue  --data DIR --provider NAME --count N
//	pact-server authority revoke --data DIR --batch ID
//	pact-server authority list   --data DIR
//	pact-server cut-batches --data DIR
//	pact-server cleanup     --data DIR
//	pact-server loadtest    --data DIR [--postgres URL]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/pact-findmy/pact-findmy/internal/authority/model"
	"github.com/pact-findmy/pact-findmy/internal/database"
	"github.com/pact-findmy/pact-findmy/internal/database/postgresdb"
	"github.com/pact-findmy/pact-findmy/internal/database/sqlitedb"
	"github.com/pact-findmy/pact-findmy/internal/keyfile"
	"github.com/pact-findmy/pact-findmy/internal/server"
)

const usage = `usage: pact-server <command> [flags]

commands:
  serve                 run the HTTP API, the batch cutter and the retention cleanup
  authority issue       issue permission numbers to a health provider (printed one per line)
  authority revoke      revoke a batch of permission numbers
  authority list        list issued batches with their counts
  cut-batches           cut pending uploads of closed periods into signed batches now
  cleanup               delete uploads, batches and numbers past retention now
  loadtest              measure uploads per second on loopback

Run "pact-server <command> --help" for the flags of a command.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "pact-server:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, usage)
		if len(args) == 0 {
			return errors.New("no command given")
		}
		return nil
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], stderr)
	case "authority":
		if len(args) < 2 {
			fmt.Fprint(stderr, usage)
			return errors.New("authority: want issue, revoke or list")
		}
		switch args[1] {
		case "issue":
			return issue(ctx, args[2:], stdout, stderr)
		case "revoke":
			return revoke(ctx, args[2:], stdout, stderr)
		case "list":
			return list(ctx, args[2:], stdout, stderr)
		}
		return fmt.Errorf("authority %q: want issue, revoke or list", args[1])
	case "cut-batches":
		return cutBatches(ctx, args[1:], stdout, stderr)
	case "cleanup":
		return cleanup(ctx, args[1:], stdout, stderr)
	case "loadtest":
		return loadtest(ctx, args[1:], stdout, stderr)
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

// storeFlags are the flags every command that opens the database shares.
type storeFlags struct {
	data       string
	postgres   string
	sqliteSync string
	logLevel   string
}

func (f *storeFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.data, "data", "", "data directory: SQLite database (unless --postgres) and the secret key files (required)")
	fs.StringVar(&f.postgres, "postgres", "", "PostgreSQL URL, e.g. postgres://user:pass@host:5432/db; replaces SQLite")
	fs.StringVar(&f.sqliteSync, "sqlite-sync", "full", "SQLite synchronous mode: full (survives power loss) or normal (survives process crashes)")
	fs.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn, error")
}

func (f *storeFlags) logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level %q: %w", f.logLevel, err)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level})), nil
}

func (f *storeFlags) open(ctx context.Context) (database.Store, error) {
	if f.data == "" {
		return nil, errors.New("--data is required")
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

func newFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: pact-server %s\n\nflags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return nil
}

// serverFlags configure a Server beyond the store.
type serverFlags struct {
	period          time.Duration
	uploadRetention time.Duration
	exportDir       string
	regions         string
	failuresPerHour int
	trustedProxies  string
}

func (f *serverFlags) register(fs *flag.FlagSet) {
	d := server.DefaultConfig()
	fs.DurationVar(&f.period, "period", time.Duration(d.PeriodMinutes)*time.Minute, "batch period (whole minutes dividing a day)")
	fs.DurationVar(&f.uploadRetention, "upload-retention", d.UploadRetention, "how long uploads and batches are kept")
	fs.StringVar(&f.exportDir, "export", "", "also write batches and listings as static files under this directory")
	fs.StringVar(&f.regions, "regions", "", "comma-separated regions to accept (default: any valid region name)")
	fs.IntVar(&f.failuresPerHour, "failures-per-hour", d.FailuresPerHour, "refused permission numbers allowed per client network (IPv4 address or IPv6 /64) per hour")
	fs.StringVar(&f.trustedProxies, "trusted-proxies", "", "comma-separated proxy addresses whose X-Forwarded-For is used for rate limiting")
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
		return server.Config{}, fmt.Errorf("--period %v: want whole minutes", f.period)
	}
	return server.Config{
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
