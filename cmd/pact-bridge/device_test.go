package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pact-findmy/pact-findmy/internal/cli"
	"github.com/pact-findmy/pact-findmy/internal/devicedb"
	"github.com/pact-findmy/pact-findmy/internal/sim"
	"github.com/pact-findmy/pact-findmy/pact"
)

// TestBundleThenMatch runs the two device commands against real device
// databases: Alice's bundle, with one hour redacted, is matched by Bob.
// TestBundleThenMatch uploads one device's bundle to another and matches,
// with the listener's log plain and hidden (pact-bridge hide-log, spec
// §9.3): both find the same contacts.
func TestBundleThenMatch(t *testing.T) {
	for _, hide := range []bool{false, true} {
		t.Run(fmt.Sprintf("hidden=%v", hide), func(t *testing.T) { testBundleThenMatch(t, hide) })
	}
}

func testBundleThenMatch(t *testing.T, hide bool) {
	ctx := context.Background()
	dir := t.TempDir()
	alicePath, bobPath := filepath.Join(dir, "alice.db"), filepath.Join(dir, "bob.db")
	alice, err := devicedb.Open(alicePath)
	if err != nil {
		t.Fatal(err)
	}
	bob, err := devicedb.Open(bobPath)
	if err != nil {
		t.Fatal(err)
	}
	clock := &pact.ManualClock{}
	seeds := pact.NewSeedLog(alice, pact.SeedLogOptions{Clock: clock})
	contacts := pact.NewContactLog(bob, pact.ContactLogOptions{Clock: clock})
	first := pact.MinuteOf(time.Now().Add(-5 * time.Hour)).HourStart()
	for m := first; m < first+180; m++ { // three hours, Bob nearby for the first 20 minutes of each
		clock.Set(m.Time())
		c, _, _, err := seeds.ChirpNow(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if m%60 < 20 {
			if _, err := contacts.Record(ctx, []pact.Sighting{{Chirp: c, Minute: m, RSSI: -58, Source: pact.SourcePACT}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	alice.Close()
	bob.Close()
	if hide {
		var out bytes.Buffer
		if err := runHideLog(ctx, []string{"--db", bobPath}, &out, io.Discard); err != nil {
			t.Fatal(err)
		}
		db, err := devicedb.Open(bobPath)
		if err != nil {
			t.Fatal(err)
		}
		mode, err := db.ContactLogMode(ctx)
		db.Close()
		if err != nil || mode != devicedb.ModeHidden {
			t.Fatalf("after hide-log (%q): mode %q, %v", out.String(), mode, err)
		}
	}

	var bundle bytes.Buffer
	redact := (first + 60).Time().Format(time.RFC3339)
	if err := runBundle(ctx, []string{"--db", alicePath, "--exclude", redact}, &bundle, io.Discard); err != nil {
		t.Fatal(err)
	}
	tuplesPath := filepath.Join(dir, "bundle.json")
	if err := os.WriteFile(tuplesPath, bundle.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	var tuples []pact.Tuple
	if err := json.Unmarshal(bundle.Bytes(), &tuples); err != nil || len(tuples) != 3 {
		t.Fatalf("bundle = %s, %v; want 3 tuples", bundle.String(), err)
	}

	var out bytes.Buffer
	if err := runMatch(ctx, []string{"--db", bobPath, "--tuples", tuplesPath, "--format", "json"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	var days []struct {
		Minutes  int     `json:"matched_minutes"`
		Contacts int     `json:"contacts"`
		Score    float64 `json:"score"`
	}
	if err := json.Unmarshal(out.Bytes(), &days); err != nil {
		t.Fatalf("match output %q: %v", out.String(), err)
	}
	total, seedHours := 0, 0
	for _, d := range days {
		total += d.Minutes
		seedHours += d.Contacts
	}
	// The redacted hour must match nothing; the other two match 20 minutes each.
	if total != 40 || seedHours != 2 {
		t.Fatalf("matched %d minutes from %d seed-hours, want 40 from 2: %s", total, seedHours, out.String())
	}
}

func TestCommandsRejectBadInput(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`[{"seed":"xyz","start":1,"end":2}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	// One tuple more than a list holds, each valid on its own.
	var many bytes.Buffer
	many.WriteString("[")
	for i := range pact.MaxTuplesPerList + 1 {
		if i > 0 {
			many.WriteString(",")
		}
		fmt.Fprintf(&many, `{"seed":"%064x","start":%d,"end":%d}`, i+1, 29_000_000+60*i, 29_000_000+60*i+59)
	}
	many.WriteString("]")
	tooMany := filepath.Join(dir, "too-many.json")
	if err := os.WriteFile(tooMany, many.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		run   func(context.Context, []string, io.Writer, io.Writer) error
		args  []string
		want  error  // a sentinel the error wraps
		flag  string // the flag a *cli.FlagError names, if any
		value string // and the value it names
	}{
		{"match needs tuples", runMatch, []string{"--db", filepath.Join(dir, "d.db")}, cli.ErrRequired, "tuples", ""},
		{"match bad tuple file", runMatch, []string{"--db", filepath.Join(dir, "d.db"), "--tuples", bad}, pact.ErrHexLength, "", ""},
		{"match endless tuple file", runMatch, []string{"--db", filepath.Join(dir, "d.db"), "--tuples", "/dev/zero"}, errTupleFileTooLarge, "", ""},
		{"match more tuples than a list holds", runMatch, []string{"--db", filepath.Join(dir, "d.db"), "--tuples", tooMany}, pact.ErrTooManyTuples, "", ""},
		{"match bad format", runMatch, []string{"--tuples", bad, "--format", "xml"}, cli.ErrUsage, "format", "xml"},
		{"match tolerance over the limit", runMatch, []string{"--tuples", bad, "--tolerance", "31"}, cli.ErrUsage, "tolerance", "31"},
		{"match tolerance that wraps a minute", runMatch, []string{"--tuples", bad, "--tolerance", "4294967297"}, cli.ErrUsage, "tolerance", "4294967297"},
		{"match days beyond retention", runMatch, []string{"--tuples", bad, "--days", "0"}, cli.ErrUsage, "days", "0"},
		{"match stray argument", runMatch, []string{"--tuples", bad, "extra"}, cli.ErrExtraArgs, "", ""},
		{"bundle bad exclude", runBundle, []string{"--db", filepath.Join(dir, "d.db"), "--exclude", "yesterday"}, cli.ErrUsage, "exclude", "yesterday"},
		{"bundle bad from", runBundle, []string{"--db", filepath.Join(dir, "d.db"), "--from", "noon"}, cli.ErrUsage, "from", "noon"},
		{"bundle bad format", runBundle, []string{"--format", "xml"}, cli.ErrUsage, "format", "xml"},
		{"simulate stray argument", runSimulate, []string{"extra"}, cli.ErrExtraArgs, "", ""},
		{"simulate unknown flag", runSimulate, []string{"--people", "3"}, cli.ErrUsage, "", ""},
		{"simulate bad log level", runSimulate, []string{"--log-level", "loud"}, cli.ErrUsage, "", ""},
		{"simulate zero devices", runSimulate, []string{"--devices", "0"}, cli.ErrUsage, "devices", "0"},
		{"simulate zero hours", runSimulate, []string{"--hours", "0"}, cli.ErrUsage, "hours", "0"},
		{"simulate zero close range", runSimulate, []string{"--close-range", "0"}, cli.ErrUsage, "close-range", "0"},
		{"simulate negative close range", runSimulate, []string{"--close-range", "-1.5"}, cli.ErrUsage, "close-range", "-1.5"},
		{"simulate diagnosed device out of range", runSimulate, []string{"--devices", "3", "--diagnosed", "3"}, sim.ErrConfig, "", ""},
		{"simulate bad start", runSimulate, []string{"--start", "today"}, cli.ErrUsage, "start", "today"},
		{"simulate city period not whole minutes", runSimulate, []string{"--days", "1", "--period", "90s"}, cli.ErrUsage, "period", "1m30s"},
		{"simulate city longer than 60 days", runSimulate, []string{"--days", "61"}, sim.ErrConfig, "", ""},
		{"simulate city consent above one", runSimulate, []string{"--days", "1", "--consent", "2"}, sim.ErrConfig, "", ""},
		{"simulate city uploads longer than a bundle", runSimulate, []string{"--days", "1", "--upload-days", "22"}, sim.ErrConfig, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := tc.run(context.Background(), tc.args, &out, io.Discard)
			inputFault := slices.Contains([]error{pact.ErrHexLength, errTupleFileTooLarge, pact.ErrTooManyTuples}, tc.want)
			if !errors.Is(err, tc.want) || inputFault == errors.Is(err, cli.ErrUsage) {
				t.Fatalf("error = %v, want one wrapping %v, a usage error unless the input is at fault", err, tc.want)
			}
			if flag, value := cli.FlagOf(err); flag != tc.flag || value != tc.value {
				t.Errorf("error %v names --%s %q, want --%s %q", err, flag, value, tc.flag, tc.value)
			}
		})
	}
}

// TestRunExitStatus checks the command line as a whole: help, usage
// errors and failures each get their exit status.
func TestRunExitStatus(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name   string
		args   []string
		code   int
		stdout string // a substring of stdout
	}{
		{"help", []string{"--help"}, 0, "Usage: pact-bridge COMMAND"},
		{"command help", []string{"match", "--help"}, 0, "Usage: pact-bridge match --tuples FILE"},
		{"version", []string{"--version"}, 0, "pact-bridge "},
		{"no command", nil, 2, ""},
		{"unknown command", []string{"fly"}, 2, ""},
		{"usage error", []string{"match"}, 2, ""},
		{"failure", []string{"match", "--db", filepath.Join(dir, "d.db"), "--tuples", filepath.Join(dir, "missing.json")}, 1, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(context.Background(), tc.args, &stdout, &stderr); code != tc.code {
				t.Fatalf("exit status %d, want %d; stderr:\n%s", code, tc.code, stderr.String())
			}
			if !strings.Contains(stdout.String(), tc.stdout) {
				t.Errorf("stdout lacks %q:\n%s", tc.stdout, stdout.String())
			}
		})
	}
}

// TestCommandsEraseExpired checks that the device commands enforce the
// retention period of spec §5.3 on the database they open.
func TestCommandsEraseExpired(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "device.db")
	db, err := devicedb.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	now := pact.MinuteOf(time.Now())
	expired := now - pact.DefaultRetention - 2*pact.MinutesPerHour
	recent := now - 2*pact.MinutesPerHour
	for _, m := range []pact.Minute{expired, recent} {
		if _, err := db.PutSeed(ctx, pact.SeedRecord{Seed: pact.Seed{byte(m)}, Start: m}); err != nil {
			t.Fatal(err)
		}
		if err := db.AddSightings(ctx, []pact.Sighting{{Chirp: pact.Chirp{byte(m)}, Minute: m, RSSI: -60, Source: pact.SourcePACT}}); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	var out bytes.Buffer
	if err := runBundle(ctx, []string{"--db", path, "--from", expired.Time().Format(time.RFC3339)}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	var bundle []pact.Tuple
	if err := json.Unmarshal(out.Bytes(), &bundle); err != nil || len(bundle) != 1 || bundle[0].Start != recent {
		t.Fatalf("bundle from before the horizon = %s, %v; want only the recent seed", out.String(), err)
	}
	empty := filepath.Join(t.TempDir(), "none.json")
	if err := os.WriteFile(empty, []byte("[]"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := runMatch(ctx, []string{"--db", path, "--tuples", empty}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	db, err = devicedb.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var left []pact.Minute
	if err := db.Seeds(ctx, 0, ^pact.Minute(0), func(r pact.SeedRecord) error { left = append(left, r.Start); return nil }); err != nil {
		t.Fatal(err)
	}
	if err := db.Sightings(ctx, 0, ^pact.Minute(0), func(s pact.Sighting) error { left = append(left, s.Minute); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(left) != 2 || left[0] != recent || left[1] != recent {
		t.Fatalf("left after retention: %v; want the recent seed and sighting at %d", left, recent)
	}
}
