package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"testing"
)

// testProgram has a leaf that parses flags, a leaf that fails, and a
// group of two subcommands, one of them a group again.
func testProgram(ran *[]string) *Program {
	leaf := func(name string) func(context.Context, []string, io.Writer, io.Writer) error {
		return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
			fs := NewFlagSet("prog "+name, "[flags]", stdout, stderr)
			n := fs.Int("n", 1, "how many")
			if err := fs.ParseNoArgs(args); err != nil {
				return err
			}
			if *n < 1 {
				return FlagErrorf("n", *n, "want at least 1")
			}
			*ran = append(*ran, fmt.Sprintf("%s n=%d", name, *n))
			fmt.Fprintf(stdout, "%s done\n", name)
			return nil
		}
	}
	return &Program{
		Name:        "prog",
		Description: "prog tests the scaffold.",
		Commands: []Command{
			{Name: "serve", Summary: "serve things", Run: leaf("serve")},
			{Name: "fail", Summary: "always fails", Run: func(context.Context, []string, io.Writer, io.Writer) error {
				return errors.New("disk on fire")
			}},
			{Name: "authority", Summary: "manage numbers", Commands: []Command{
				{Name: "issue", Summary: "issue numbers", Run: leaf("authority issue")},
				{Name: "keys", Summary: "key commands", Commands: []Command{
					{Name: "rotate", Summary: "rotate the key", Run: leaf("authority keys rotate")},
				}},
			}},
		},
	}
}

func TestProgramRun(t *testing.T) {
	cases := []struct {
		name       string
		args       []string
		code       int
		ran        string   // the command that ran, if any
		stdout     []string // substrings
		stderr     []string // substrings
		quietOut   bool     // nothing on stdout
		quietError bool     // nothing on stderr
	}{
		{name: "leaf", args: []string{"serve", "-n", "3"}, code: ExitOK, ran: "serve n=3", stdout: []string{"serve done"}, quietError: true},
		{name: "nested leaf", args: []string{"authority", "issue"}, code: ExitOK, ran: "authority issue n=1", quietError: true},
		{name: "twice nested leaf", args: []string{"authority", "keys", "rotate", "--n", "2"}, code: ExitOK, ran: "authority keys rotate n=2", quietError: true},
		{name: "failure", args: []string{"fail"}, code: ExitFailure, stderr: []string{"prog fail: disk on fire"}, quietOut: true},

		{name: "no command", args: nil, code: ExitUsage, stderr: []string{"want a command", "Usage: prog COMMAND", "authority keys rotate"}, quietOut: true},
		{name: "unknown command", args: []string{"fly"}, code: ExitUsage, stderr: []string{`unknown command "fly"`, "Usage: prog COMMAND"}, quietOut: true},
		{name: "unknown subcommand", args: []string{"authority", "fly"}, code: ExitUsage, stderr: []string{`prog authority: unknown command "fly"`, "Usage: prog authority COMMAND"}, quietOut: true},
		{name: "group without subcommand", args: []string{"authority"}, code: ExitUsage, stderr: []string{"Usage: prog authority COMMAND", "keys rotate"}, quietOut: true},
		{name: "unknown flag", args: []string{"serve", "--bogus"}, code: ExitUsage, stderr: []string{"prog serve:", "-bogus", "Run 'prog serve --help'"}, quietOut: true},
		{name: "flag value of the wrong type", args: []string{"serve", "-n", "many"}, code: ExitUsage, stderr: []string{`invalid value "many"`}, quietOut: true},
		{name: "bad flag value", args: []string{"authority", "issue", "-n", "0"}, code: ExitUsage, stderr: []string{"prog authority issue: --n 0: want at least 1"}, quietOut: true},
		{name: "stray argument", args: []string{"serve", "extra"}, code: ExitUsage, stderr: []string{`unexpected arguments ["extra"]`}, quietOut: true},

		{name: "help", args: []string{"help"}, code: ExitOK, stdout: []string{"prog tests the scaffold.", "Usage: prog COMMAND", "serve", "authority issue", "authority keys rotate"}, quietError: true},
		{name: "--help", args: []string{"--help"}, code: ExitOK, stdout: []string{"Usage: prog COMMAND"}, quietError: true},
		{name: "-h", args: []string{"-h"}, code: ExitOK, stdout: []string{"Usage: prog COMMAND"}, quietError: true},
		{name: "command --help", args: []string{"serve", "--help"}, code: ExitOK, stdout: []string{"Usage: prog serve [flags]", "-n int"}, quietError: true},
		{name: "nested command -h", args: []string{"authority", "keys", "rotate", "-h"}, code: ExitOK, stdout: []string{"Usage: prog authority keys rotate [flags]"}, quietError: true},
		{name: "group --help", args: []string{"authority", "--help"}, code: ExitOK, stdout: []string{"Usage: prog authority COMMAND", "issue", "keys rotate"}, quietError: true},
		{name: "help command", args: []string{"help", "authority", "issue"}, code: ExitOK, stdout: []string{"Usage: prog authority issue [flags]"}, quietError: true},
		{name: "help unknown command", args: []string{"help", "fly"}, code: ExitUsage, stderr: []string{`unknown command "fly"`}, quietOut: true},
		{name: "version", args: []string{"--version"}, code: ExitOK, stdout: []string{"prog ", " go1."}, quietError: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var ran []string
			var stdout, stderr bytes.Buffer
			code := testProgram(&ran).Run(context.Background(), tc.args, &stdout, &stderr)
			if code != tc.code {
				t.Fatalf("exit status %d, want %d; stderr:\n%s", code, tc.code, stderr.String())
			}
			if got := strings.Join(ran, ";"); got != tc.ran {
				t.Errorf("ran %q, want %q", got, tc.ran)
			}
			for _, s := range tc.stdout {
				if !strings.Contains(stdout.String(), s) {
					t.Errorf("stdout lacks %q:\n%s", s, stdout.String())
				}
			}
			for _, s := range tc.stderr {
				if !strings.Contains(stderr.String(), s) {
					t.Errorf("stderr lacks %q:\n%s", s, stderr.String())
				}
			}
			if tc.quietOut && stdout.Len() > 0 {
				t.Errorf("stdout not empty:\n%s", stdout.String())
			}
			if tc.quietError && stderr.Len() > 0 {
				t.Errorf("stderr not empty:\n%s", stderr.String())
			}
		})
	}
}

func TestUsageErrors(t *testing.T) {
	cause := errors.New("out of range")
	cases := []struct {
		name      string
		err       error
		sentinels []error
		flag      string // want a *FlagError for this flag, with value
		value     string
		text      string // the message a user reads
	}{
		{"flag value", FlagErrorf("count", 0, "want 1..%d", 10), []error{ErrUsage}, "count", "0", "--count 0: want 1..10"},
		{"string value is quoted", FlagErrorf("format", "xml", "want text or json"), []error{ErrUsage}, "format", "xml", `--format "xml": want text or json`},
		{"wrapped cause", FlagErrorf("start", "yesterday", "%w", cause), []error{ErrUsage, cause}, "start", "yesterday", `--start "yesterday": out of range`},
		{"required", Required("data"), []error{ErrUsage, ErrRequired}, "data", "", "--data is required"},
		{"extra arguments", ExtraArgs([]string{"a", "b"}), []error{ErrUsage, ErrExtraArgs}, "", "", `unexpected arguments ["a" "b"]`},
		{"usagef", Usagef("--a and --b exclude each other"), []error{ErrUsage}, "", "", "--a and --b exclude each other"},
		{"usagef wraps", Usagef("--window: %w", cause), []error{ErrUsage, cause}, "", "", "--window: out of range"},
		{"wrapped again", fmt.Errorf("match: %w", FlagErrorf("days", 0, "want 1..21")), []error{ErrUsage}, "days", "0", "match: --days 0: want 1..21"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, s := range tc.sentinels {
				if !errors.Is(tc.err, s) {
					t.Errorf("errors.Is(%v, %v) = false", tc.err, s)
				}
			}
			var fe *FlagError
			if errors.As(tc.err, &fe) != (tc.flag != "") {
				t.Fatalf("errors.As(%v, *FlagError) = %v, want %v", tc.err, fe != nil, tc.flag != "")
			}
			if fe != nil && (fe.Flag != tc.flag || fe.Value != tc.value) {
				t.Errorf("FlagError{Flag: %q, Value: %q}, want %q, %q", fe.Flag, fe.Value, tc.flag, tc.value)
			}
			if flag, value := FlagOf(tc.err); flag != tc.flag || value != tc.value {
				t.Errorf("FlagOf = %q, %q, want %q, %q", flag, value, tc.flag, tc.value)
			}
			if tc.err.Error() != tc.text {
				t.Errorf("message %q, want %q", tc.err.Error(), tc.text)
			}
		})
	}
}

func TestFlagSetParse(t *testing.T) {
	cases := []struct {
		name  string
		args  []string
		want  error // nil, flag.ErrHelp or ErrUsage
		help  bool  // usage on stdout
		level string
	}{
		{"defaults", nil, nil, false, "INFO"},
		{"log level", []string{"--log-level", "debug"}, nil, false, "DEBUG"},
		{"log level with offset", []string{"--log-level", "warn+2"}, nil, false, "WARN+2"},
		{"unknown log level", []string{"--log-level", "loud"}, ErrUsage, false, ""},
		{"help", []string{"--help"}, flag.ErrHelp, true, ""},
		{"unknown flag", []string{"-x"}, ErrUsage, false, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			fs := NewFlagSet("prog cmd", "[flags]", &stdout, &stderr)
			var lf LogFlags
			lf.Register(fs.FlagSet)
			err := fs.Parse(tc.args)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("Parse(%q) = %v, want %v", tc.args, err, tc.want)
			}
			if got := strings.Contains(stdout.String(), "-log-level"); got != tc.help {
				t.Errorf("usage on stdout = %v, want %v:\n%s", got, tc.help, stdout.String())
			}
			if stderr.Len() > 0 {
				t.Errorf("Parse wrote to stderr:\n%s", stderr.String())
			}
			if tc.level != "" && lf.Level.String() != tc.level {
				t.Errorf("level %v, want %s", lf.Level, tc.level)
			}
		})
	}
	var stderr bytes.Buffer
	fs := NewFlagSet("prog cmd", "--need X", io.Discard, &stderr)
	fs.Usage()
	if !strings.HasPrefix(stderr.String(), "Usage: prog cmd --need X\n") {
		t.Errorf("Usage wrote %q to stderr", stderr.String())
	}
}

func TestLogger(t *testing.T) {
	var buf bytes.Buffer
	lf := LogFlags{Level: -4} // debug
	log := lf.Logger(&buf)
	log.Debug("seen", "k", 1)
	lf.Level = 4 // warn
	log = lf.Logger(&buf)
	log.Info("hidden")
	if got := buf.String(); !strings.Contains(got, "level=DEBUG msg=seen k=1") || strings.Contains(got, "hidden") {
		t.Errorf("log output %q", got)
	}
}

func TestBuildString(t *testing.T) {
	cases := []struct {
		b    Build
		want string
	}{
		{Build{Version: "v0.1.0", Commit: "4fd0ce2", Time: "2026-11-30T18:02:11Z", GoVersion: "go1.26.8", Platform: "linux/arm64"},
			"pact-server v0.1.0 commit 4fd0ce2 (2026-11-30T18:02:11Z) go1.26.8 linux/arm64"},
		{Build{Version: "(devel)", Commit: "4fd0ce2", Modified: true, GoVersion: "go1.26.8", Platform: "linux/amd64"},
			"pact-server (devel) commit 4fd0ce2 (modified) go1.26.8 linux/amd64"},
		{Build{Version: "(devel)", GoVersion: "go1.26.8", Platform: "linux/amd64"},
			"pact-server (devel) commit unknown go1.26.8 linux/amd64"},
	}
	for _, tc := range cases {
		if got := tc.b.String("pact-server"); got != tc.want {
			t.Errorf("got  %q\nwant %q", got, tc.want)
		}
	}
	if b := ReadBuild(); !strings.HasPrefix(b.GoVersion, "go") || b.Platform == "" {
		t.Errorf("ReadBuild() = %+v: no Go version or platform", b)
	}
}
