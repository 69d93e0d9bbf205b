package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
)

// FlagSet is a flag.FlagSet that reports the way Program.Run expects:
// --help prints the usage to stdout and returns flag.ErrHelp, a bad flag
// or value returns an error wrapping ErrUsage, and nothing else is
// printed while parsing (Program.Run prints the error once).
type FlagSet struct {
	*flag.FlagSet
	stdout, stderr io.Writer
}

// NewFlagSet returns a flag set for the command line path (for example
// "pact-server authority issue"). Its usage, printed by --help to stdout
// and by Usage to stderr, is "Usage: path synopsis", a blank line and the
// flags; synopsis may go on with a blank line and a description.
func NewFlagSet(path, synopsis string, stdout, stderr io.Writer) *FlagSet {
	fs := &FlagSet{FlagSet: flag.NewFlagSet(path, flag.ContinueOnError), stdout: stdout, stderr: stderr}
	fs.SetOutput(stderr)
	fs.FlagSet.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: %s %s\n\nFlags:\n", path, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// Usage prints the usage to stderr, for a command that explains a usage
// error with it.
func (fs *FlagSet) Usage() {
	fs.SetOutput(fs.stderr)
	fs.FlagSet.Usage()
}

// Parse parses args. For -h or --help it prints the usage to stdout and
// returns flag.ErrHelp; an unknown flag or a value the flag cannot hold
// returns an error wrapping ErrUsage.
func (fs *FlagSet) Parse(args []string) error {
	// flag prints the error and the usage on any failure; Program.Run
	// prints the error instead, and the usage only when it was asked for.
	usage := fs.FlagSet.Usage
	fs.FlagSet.Usage = func() {}
	fs.SetOutput(io.Discard)
	err := fs.FlagSet.Parse(args)
	fs.FlagSet.Usage = usage
	fs.SetOutput(fs.stderr)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, flag.ErrHelp):
		fs.SetOutput(fs.stdout)
		usage()
		fs.SetOutput(fs.stderr)
		return err
	}
	return Usagef("%w", err)
}

// ParseNoArgs is Parse for a command that takes flags only.
func (fs *FlagSet) ParseNoArgs(args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return ExtraArgs(fs.Args())
	}
	return nil
}

// LogFlags is the --log-level flag and the logger it sets up.
type LogFlags struct {
	Level slog.Level
}

// Register adds --log-level to fs, default info. A level slog does not
// know is a usage error of Parse.
func (l *LogFlags) Register(fs *flag.FlagSet) {
	fs.TextVar(&l.Level, "log-level", slog.LevelInfo, "log `level`: debug, info, warn or error")
}

// Logger returns a text logger at the level given, writing to w (the
// command's stderr: stdout is for the command's output).
func (l *LogFlags) Logger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l.Level}))
}
