// Command findmy-harvester collects Apple Find My (Offline Finding) keys
// and native PACT chirps from Bluetooth advertising and writes them to the
// device's contact log (docs/findmy.md, spec §7).
//
//	findmy-harvester scan --hci 0 --db contacts.db
//	findmy-harvester replay capture.btsnoop --format jsonl
//	findmy-harvester derive --secret HEX --public-key HEX --from 0 --count 96
//	findmy-harvester synth --count 1000000 --out capture.btsnoop
//
// Run a subcommand with --help for its flags.
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
	"syscall"
)

const usage = `findmy-harvester collects Find My keys and PACT chirps from Bluetooth advertising.

Usage:
  findmy-harvester scan --hci N [flags]        scan a local adapter (Linux)
  findmy-harvester scan --serial PATH [flags]  scan an HCI UART controller over H4 (Linux)
  findmy-harvester replay [flags] FILE         read a btsnoop, pcap or pcapng capture
  findmy-harvester derive [flags]              print rolling Find My keys
  findmy-harvester synth [flags]               write a synthetic capture

Run "findmy-harvester COMMAND --help" for the flags of a command.
`

func main() {
	// A reader of --format jsonl that goes away (`... | head`) would
	// otherwise kill the process on the next write, losing the sightings
	// not yet in the contact log. Ignored, the write fails with EPIPE, the
	// pipeline stops on that error and flushes the log before exiting.
	signal.Ignore(syscall.SIGPIPE)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// The first signal starts a graceful stop; restoring the default
		// handling lets a second one end a stop that hangs.
		<-ctx.Done()
		stop()
	}()
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// errUsage marks errors already explained by a usage message.
var errUsage = errors.New("usage")

// run is main without the process: tests call it directly.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "scan":
		err = scanCommand(ctx, args[1:], stdout, stderr)
	case "replay":
		err = replayCommand(ctx, args[1:], stdout, stderr)
	case "derive":
		err = deriveCommand(args[1:], stdout, stderr)
	case "synth":
		err = synthCommand(args[1:], stderr)
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "findmy-harvester: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "findmy-harvester %s: %v\n", args[0], err)
		return 2
	}
	fmt.Fprintf(stderr, "findmy-harvester %s: %v\n", args[0], err)
	return 1
}

// newFlagSet returns a flag set that reports errors to stderr and lets
// the caller return them.
func newFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: findmy-harvester %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags wraps FlagSet.Parse so that a bad flag becomes errUsage.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	return nil
}

func newLogger(stderr io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("%w: --log-level %q: want debug, info, warn or error", errUsage, level)
	}
	return slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: l})), nil
}
