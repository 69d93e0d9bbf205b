package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pact-findmy/pact-findmy/capture"
	"github.com/pact-findmy/pact-findmy/internal/devicedb"
	"github.com/pact-findmy/pact-findmy/internal/ingest"
	"github.com/pact-findmy/pact-findmy/pact"
)

// TestSeparateProcessSharesTheDatabase runs findmy-harvester replay as a
// process of its own on the database file a pipeline in this process (as
// in the node) is writing at the same time, both in small transactions:
// the database must end up with every row of both, as if each capture had
// been replayed alone.
func TestSeparateProcessSharesTheDatabase(t *testing.T) {
	dir := t.TempDir()
	captures := []string{filepath.Join(dir, "node.btsnoop"), filepath.Join(dir, "harvester.btsnoop")}
	for i, c := range captures {
		// A report every 20 s on average: many distinct minutes, many rows.
		args := []string{"synth", "--count", "20000", "--gap", "20s", "--seed", fmt.Sprint(i + 1), "--out", c}
		if code := run(context.Background(), args, nil, new(bytes.Buffer)); code != 0 {
			t.Fatalf("synth %v exited %d", args, code)
		}
	}
	// What each capture leaves when replayed alone.
	want := map[string]bool{}
	for i, c := range captures {
		db := filepath.Join(dir, fmt.Sprintf("alone-%d.db", i))
		if code := run(context.Background(), []string{"replay", "--db", db, c}, nil, new(bytes.Buffer)); code != 0 {
			t.Fatalf("replay %s alone exited %d", c, code)
		}
		for r := range contactRows(t, db) {
			want[r] = true
		}
	}

	shared := filepath.Join(dir, "device.db")
	db, err := devicedb.Open(shared)
	must(t, err)
	defer db.Close()
	p, err := ingest.New(ingest.Options{DB: db, MinRSSI: -128, BatchRows: 41})
	must(t, err)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	args := []string{"replay", "--db", shared, "--batch", "43", "--stats-interval", "0", captures[1]}
	cmd.Env = append(os.Environ(), mainArgsEnv+"="+strings.Join(args, mainArgsSep))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	must(t, cmd.Start())
	c, err := capture.OpenCapture(captures[0])
	must(t, err)
	defer c.Close()
	runErr := p.Run(context.Background(), ingest.CaptureSource(c))
	waitErr := cmd.Wait()
	if runErr != nil {
		t.Fatalf("in-process pipeline: %v", runErr)
	}
	if waitErr != nil {
		t.Fatalf("findmy-harvester replay: %v; stderr:\n%s", waitErr, stderr.String())
	}
	if s := p.Snapshot(); s.Transactions < 2 {
		t.Fatalf("the in-process pipeline committed %d transactions, want several to interleave", s.Transactions)
	}
	got := contactRows(t, shared)
	missing, extra := 0, 0
	for r := range want {
		if !got[r] {
			missing++
		}
	}
	for r := range got {
		if !want[r] {
			extra++
		}
	}
	if missing+extra > 0 || len(want) == 0 {
		t.Fatalf("shared database: %d rows, %d of the %d expected missing, %d unexpected", len(got), missing, len(want), extra)
	}
}

// contactRows returns the contact-log rows of the database at path.
func contactRows(t *testing.T, path string) map[string]bool {
	t.Helper()
	db, err := devicedb.Open(path)
	must(t, err)
	defer db.Close()
	rows := map[string]bool{}
	must(t, db.Sightings(context.Background(), 0, ^pact.Minute(0), func(s pact.Sighting) error {
		rows[fmt.Sprintf("%s %v %d %d", s.Source, s.Chirp, s.Minute, s.RSSI)] = true
		return nil
	}))
	return rows
}
