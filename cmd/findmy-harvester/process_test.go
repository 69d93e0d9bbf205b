package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pact-findmy/pact-findmy/internal/devicedb"
	"github.com/pact-findmy/pact-findmy/pact"
)

// mainArgsEnv, when set, makes the test binary run main with these
// arguments (separated by mainArgsSep) instead of the tests, so that a
// test can watch the whole process: exit status, signals, stdout.
const (
	mainArgsEnv = "FINDMY_HARVESTER_TEST_MAIN"
	mainArgsSep = "\x1f"
)

func TestMain(m *testing.M) {
	if args := os.Getenv(mainArgsEnv); args != "" {
		os.Args = append([]string{"findmy-harvester"}, strings.Split(args, mainArgsSep)...)
		main()
	}
	os.Exit(m.Run())
}

// A reader of the JSON lines that goes away (`... | head`) must not take
// the contact log down with it: the process must end with an error, not
// be killed by SIGPIPE, and write the sightings it has merged so far.
func TestBrokenStdoutStillWritesContactLog(t *testing.T) {
	dir := t.TempDir()
	capture := filepath.Join(dir, "crowd.btsnoop")
	var stderr bytes.Buffer
	// Enough lines to overflow the 256 KiB stdout buffer many times.
	if code := run(context.Background(), []string{"synth", "--count", "20000", "--out", capture}, nil, &stderr); code != 0 {
		t.Fatalf("synth: %d %s", code, stderr.String())
	}
	r, w, err := os.Pipe()
	must(t, err)
	must(t, r.Close())
	defer w.Close()
	dbPath := filepath.Join(dir, "contacts.db")
	// One batch for the whole file, so no row reaches the database before
	// the first write to stdout fails.
	args := []string{"replay", "--db", dbPath, "--format", "jsonl", "--batch", "1000000", "--stats-interval", "0", capture}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), mainArgsEnv+"="+strings.Join(args, mainArgsSep))
	cmd.Stdout = w
	stderr.Reset()
	cmd.Stderr = &stderr
	err = cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("replay into a closed pipe: %v (%s), want exit status 1; stderr:\n%s", err, cmd.ProcessState, stderr.String())
	}
	if !strings.Contains(stderr.String(), "writing JSON lines") {
		t.Errorf("stderr does not say stdout failed:\n%s", stderr.String())
	}
	db, err := devicedb.Open(dbPath)
	must(t, err)
	defer db.Close()
	rows := 0
	must(t, db.Sightings(context.Background(), 0, ^pact.Minute(0), func(pact.Sighting) error { rows++; return nil }))
	if rows == 0 {
		t.Fatalf("no sightings in the contact log after stdout went away; stderr:\n%s", stderr.String())
	}
}
