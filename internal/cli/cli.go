// Package cli is the scaffold the commands under cmd/ share: a table of
// commands with nested subcommands, usage text, --help and --version, the
// exit statuses, signal handling, flag sets and log setup.
//
// A main is two lines:
//
//	func main() { os.Exit(cli.Main(run)) }
//	func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
//		return program.Run(ctx, args, stdout, stderr)
//	}
//
// and the logic stays in the commands' Run functions, which tests call
// directly or through run.
//
// Exit statuses follow the BSD sysexits convention that flag and most
// Unix tools use: 0 for success and for help, 2 for a command line that
// is wrong (ErrUsage), 1 for every other failure.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// Exit statuses returned by Program.Run and Main.
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitUsage   = 2
)

// ErrUsage is wrapped by every error that means the command line itself
// is wrong: an unknown command or flag, a bad flag value, a missing or
// stray argument. Program.Run exits with ExitUsage for it.
var ErrUsage = errors.New("usage error")

// ErrRequired is wrapped, with ErrUsage, by the error of a required flag
// that was not given (see Required).
var ErrRequired = errors.New("is required")

// ErrExtraArgs is wrapped, with ErrUsage, by the error of positional
// arguments a command does not take (see ExtraArgs).
var ErrExtraArgs = errors.New("unexpected arguments")

// ErrUnknownCommand is wrapped, with ErrUsage, by the error of a command
// name that is not in the table.
var ErrUnknownCommand = errors.New("unknown command")

// FlagError is a usage error about one flag: its name and the value given.
// errors.Is(err, ErrUsage) holds for every FlagError, and so does
// errors.Is(err, e.Err).
type FlagError struct {
	Flag  string // the flag's name, without dashes
	Value string // the value as given on the command line; "" for a missing flag
	Err   error  // what is wrong with it

	quote bool // show Value quoted: it was a string
}

func (e *FlagError) Error() string {
	if errors.Is(e.Err, ErrRequired) {
		return "--" + e.Flag + " " + e.Err.Error()
	}
	if e.quote {
		return fmt.Sprintf("--%s %q: %v", e.Flag, e.Value, e.Err)
	}
	return fmt.Sprintf("--%s %s: %v", e.Flag, e.Value, e.Err)
}

// Unwrap returns ErrUsage and the cause, so errors.Is finds either.
func (e *FlagError) Unwrap() []error { return []error{ErrUsage, e.Err} }

// FlagErrorf returns a *FlagError for flag with value (strings are shown
// quoted, other values as fmt prints them) and a cause built from format
// and args; %w in format wraps an error as fmt.Errorf does.
func FlagErrorf(flag string, value any, format string, args ...any) error {
	_, quote := value.(string)
	return &FlagError{Flag: flag, Value: fmt.Sprint(value), Err: fmt.Errorf(format, args...), quote: quote}
}

// FlagOf returns the flag and value err names if it wraps a *FlagError,
// and "", "" otherwise.
func FlagOf(err error) (flag, value string) {
	var fe *FlagError
	if errors.As(err, &fe) {
		return fe.Flag, fe.Value
	}
	return "", ""
}

// Required returns the usage error of a required flag that is missing.
func Required(flag string) error { return &FlagError{Flag: flag, Err: ErrRequired} }

// ExtraArgs returns the usage error of positional arguments a command
// does not take.
func ExtraArgs(args []string) error { return Usagef("%w %q", ErrExtraArgs, args) }

// Usagef returns an error wrapping ErrUsage with the message format and
// args give; %w in format wraps as fmt.Errorf does. Use it for usage
// errors that name no single flag, such as two flags that exclude each
// other; use FlagErrorf for a bad value.
func Usagef(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

type usageError struct{ err error }

func (e *usageError) Error() string   { return e.err.Error() }
func (e *usageError) Unwrap() []error { return []error{ErrUsage, e.err} }

// Command is one entry of a command table. A command either runs (Run) or
// groups subcommands (Commands), never both.
type Command struct {
	Name    string
	Summary string // one line for the parent's list of commands
	// Run runs the command with the arguments after its name. Returning
	// an error wrapping ErrUsage exits with ExitUsage, flag.ErrHelp with
	// ExitOK (the flag set has printed the usage), any other error with
	// ExitFailure.
	Run      func(ctx context.Context, args []string, stdout, stderr io.Writer) error
	Commands []Command
}

// Program is a command line program: its name and command table.
type Program struct {
	Name        string // as typed, e.g. "pact-server"
	Description string // a paragraph above the usage; optional
	Commands    []Command
}

// Run runs the command args name and returns the exit status. It writes
// help and the version to stdout, usage errors and failures to stderr,
// and never exits the process.
func (p *Program) Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && (args[0] == "--version" || args[0] == "-version") {
		fmt.Fprintln(stdout, ReadBuild().String(p.Name))
		return ExitOK
	}
	return runIn(ctx, p.Name, p.Description, p.Commands, args, stdout, stderr)
}

// runIn dispatches args among cmds, the commands under path.
func runIn(ctx context.Context, path, description string, cmds []Command, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintf(stderr, "%s: %v: want a command\n\n", path, ErrUsage)
		writeUsage(stderr, path, description, cmds)
		return ExitUsage
	}
	name := args[0]
	if isHelp(name) {
		if name == "help" && len(args) > 1 {
			// "help X Y" is "X Y --help".
			return runIn(ctx, path, description, cmds, append(args[1:len(args):len(args)], "--help"), stdout, stderr)
		}
		writeUsage(stdout, path, description, cmds)
		return ExitOK
	}
	c := find(cmds, name)
	if c == nil {
		fmt.Fprintf(stderr, "%s: %v %q\n\n", path, ErrUnknownCommand, name)
		writeUsage(stderr, path, description, cmds)
		return ExitUsage
	}
	sub := path + " " + c.Name
	if c.Run == nil {
		return runIn(ctx, sub, c.Summary, c.Commands, args[1:], stdout, stderr)
	}
	err := c.Run(ctx, args[1:], stdout, stderr)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return ExitOK
	case errors.Is(err, ErrUsage):
		fmt.Fprintf(stderr, "%s: %v\nRun '%s --help' for usage.\n", sub, err, sub)
		return ExitUsage
	}
	fmt.Fprintf(stderr, "%s: %v\n", sub, err)
	return ExitFailure
}

func isHelp(arg string) bool {
	switch arg {
	case "help", "-h", "-help", "--help":
		return true
	}
	return false
}

func find(cmds []Command, name string) *Command {
	for i := range cmds {
		if cmds[i].Name == name {
			return &cmds[i]
		}
	}
	return nil
}

// writeUsage lists the commands under path, subcommands flattened to
// their full names so that one screen shows every command line.
func writeUsage(w io.Writer, path, description string, cmds []Command) {
	if description != "" {
		fmt.Fprintf(w, "%s\n\n", strings.TrimSpace(description))
	}
	fmt.Fprintf(w, "Usage: %s COMMAND [flags]\n\nCommands:\n", path)
	type line struct{ name, summary string }
	var lines []line
	var walk func(prefix string, cmds []Command)
	walk = func(prefix string, cmds []Command) {
		for _, c := range cmds {
			if c.Run == nil {
				walk(prefix+c.Name+" ", c.Commands)
				continue
			}
			lines = append(lines, line{prefix + c.Name, c.Summary})
		}
	}
	walk("", cmds)
	width := 0
	for _, l := range lines {
		width = max(width, len(l.name))
	}
	for _, l := range lines {
		fmt.Fprintf(w, "  %-*s  %s\n", width, l.name, l.summary)
	}
	fmt.Fprintf(w, "\nRun '%s COMMAND --help' for the flags of a command.\n", path)
}
