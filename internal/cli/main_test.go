package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// mainEnv, when set, makes the test binary run Main with one of the
// commands below instead of the tests, so that a test can send the
// process signals and watch how it ends.
const mainEnv = "CLI_TEST_MAIN"

var mainCommands = map[string]func(ctx context.Context, args []string, stdout, stderr io.Writer) error{
	// graceful stops when the context is cancelled.
	"graceful": func(ctx context.Context, _ []string, stdout, _ io.Writer) error {
		fmt.Fprintln(stdout, "ready")
		<-ctx.Done()
		fmt.Fprintln(stdout, "stopped")
		return nil
	},
	// hung begins to stop and never finishes.
	"hung": func(ctx context.Context, _ []string, stdout, _ io.Writer) error {
		fmt.Fprintln(stdout, "ready")
		<-ctx.Done()
		fmt.Fprintln(stdout, "stopping")
		select {}
	},
	// chatty writes until stdout fails.
	"chatty": func(_ context.Context, _ []string, stdout, _ io.Writer) error {
		for {
			if _, err := fmt.Fprintln(stdout, "line"); err != nil {
				return fmt.Errorf("writing: %w", err)
			}
		}
	},
}

func TestMain(m *testing.M) {
	if name := os.Getenv(mainEnv); name != "" {
		p := &Program{Name: "prog", Commands: []Command{{Name: name, Run: mainCommands[name]}}}
		os.Args = []string{"prog", name}
		os.Exit(Main(func(ctx context.Context, args []string, stdout, stderr io.Writer) int {
			return p.Run(ctx, args, stdout, stderr)
		}))
	}
	os.Exit(m.Run())
}

// startMain runs command name in a child process and returns it with its
// stdout lines.
func startMain(t *testing.T, name string) (*exec.Cmd, <-chan string, *strings.Builder) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), mainEnv+"="+name)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	lines := make(chan string, 10)
	go func() {
		for sc := bufio.NewScanner(stdout); sc.Scan(); {
			lines <- sc.Text()
		}
		close(lines)
	}()
	return cmd, lines, &stderr
}

func expectLine(t *testing.T, lines <-chan string, want string) {
	t.Helper()
	select {
	case l := <-lines:
		if l != want {
			t.Fatalf("child printed %q, want %q", l, want)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("child did not print %q within 20 s", want)
	}
}

func TestSignalStopsGracefully(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd, lines, stderr := startMain(t, "graceful")
			expectLine(t, lines, "ready")
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			expectLine(t, lines, "stopped")
			if err := cmd.Wait(); err != nil {
				t.Fatalf("after %v: %v, want exit status 0; stderr:\n%s", sig, err, stderr)
			}
		})
	}
}

// A second signal must end a stop that hangs: the default action.
func TestSecondSignalKillsHungStop(t *testing.T) {
	cmd, lines, _ := startMain(t, "hung")
	expectLine(t, lines, "ready")
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	expectLine(t, lines, "stopping")
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	// The default action is restored right after the first signal is
	// seen, which may be a moment after "stopping" is printed: repeat.
	for deadline := time.Now().Add(20 * time.Second); ; {
		if err := cmd.Process.Signal(syscall.SIGINT); err != nil && !errors.Is(err, os.ErrProcessDone) {
			t.Fatal(err)
		}
		select {
		case <-done:
			ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
			if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGINT {
				t.Fatalf("child ended with %v, want killed by SIGINT", cmd.ProcessState)
			}
			return
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("a second SIGINT did not end the hung stop within 20 s")
		}
	}
}

// A reader that goes away must turn into a write error, exit status 1,
// not a death by SIGPIPE.
func TestBrokenPipeIsAnError(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	defer w.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), mainEnv+"=chatty")
	cmd.Stdout = w
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err = cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != ExitFailure {
		t.Fatalf("writing to a closed pipe: %v (%v), want exit status 1; stderr:\n%s", err, cmd.ProcessState, stderr.String())
	}
	if !strings.Contains(stderr.String(), "prog chatty: writing:") || !strings.Contains(stderr.String(), "broken pipe") {
		t.Errorf("stderr does not report the broken pipe:\n%s", stderr.String())
	}
}
