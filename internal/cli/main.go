package cli

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Main runs run with the process's arguments (after the program name),
// stdout and stderr, and a context that SIGINT or SIGTERM cancels, and
// returns its exit status for os.Exit.
//
// The first signal only cancels the context, so that the command can stop
// gracefully: flush what it holds, close its database, finish in-flight
// requests. It also restores the default handling of both signals, so that
// a second one ends a stop that hangs, as a user pressing Ctrl-C again
// expects.
//
// SIGPIPE is ignored. By default a Go program dies of SIGPIPE on its next
// write to a stdout or stderr whose reader has gone (`... | head`), in the
// middle of whatever it was doing: findmy-harvester would lose the
// sightings not yet in its contact log, pact-server a batch it had begun
// to print. Ignored, the write fails with EPIPE instead, which the command
// sees as an error like any other, so it stops on its normal path,
// flushing and closing what it holds, and exits with status 1.
func Main(run func(ctx context.Context, args []string, stdout, stderr io.Writer) int) int {
	signal.Ignore(syscall.SIGPIPE)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		// Unregistering the last channel for a signal restores its
		// default action: the next one terminates the process.
		stop()
	}()
	return run(ctx, os.Args[1:], os.Stdout, os.Stderr)
}
