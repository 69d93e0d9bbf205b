// Command pact-bridge runs a PACT device on a Linux host: it keeps the seed
// and contact logs, takes in native PACT chirps and Find My keys, and
// matches them against exposure batches.
//
// Usage:
//
//	pact-bridge simulate [flags]   simulate a population of devices for a day
//	pact-bridge match [flags]      match exposure tuples against the contact log
//	pact-bridge bundle [flags]     print the upload bundle of the seed log
//
// Run "pact-bridge COMMAND --help" for the flags of a command.
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

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout io.Writer) error
}

var commands = []command{
	{"simulate", "simulate a population of PACT devices for a day, one of them diagnosed", runSimulate},
	{"match", "match exposure tuples against the device's contact log", runMatch},
	{"bundle", "print the upload bundle of the device's seed log", runBundle},
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: pact-bridge COMMAND [flags]")
	fmt.Fprintln(w, "\nCommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'pact-bridge COMMAND --help' for a command's flags.")
}

func main() {
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, nil)))
	if len(os.Args) < 2 {
		usage(os.Stderr)
		os.Exit(2)
	}
	name := os.Args[1]
	if name == "-h" || name == "--help" || name == "help" {
		usage(os.Stdout)
		return
	}
	for _, c := range commands {
		if c.name != name {
			continue
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err := c.run(ctx, os.Args[2:], os.Stdout)
		stop()
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		if err != nil {
			slog.Error(name+" failed", "err", err)
			os.Exit(1)
		}
		return
	}
	fmt.Fprintf(os.Stderr, "pact-bridge: unknown command %q\n\n", name)
	usage(os.Stderr)
	os.Exit(2)
}
