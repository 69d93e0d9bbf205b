package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pact-findmy/pact-findmy/internal/devicedb"
	"github.com/pact-findmy/pact-findmy/pact"
)

type fixedClock struct{ t time.Time }

func (c *fixedClock) Now() time.Time { return c.t }

// TestBundleThenMatch runs the two device commands against real device
// databases: Alice's bundle, with one hour redacted, is matched by Bob.
func TestBundleThenMatch(t *testing.T) {
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
	clock := &fixedClock{}
	seeds := pact.NewSeedLog(alice, pact.SeedLogOptions{Clock: clock})
	contacts := pact.NewContactLog(bob, pact.ContactLogOptions{Clock: clock})
	first := pact.MinuteOf(time.Now().Add(-5 * time.Hour)).HourStart()
	for m := first; m < first+180; m++ { // three hours, Bob nearby for the first 20 minutes of each
		clock.t = m.Time()
		c, _, _, err := seeds.ChirpNow(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if m%60 < 20 {
			contacts.Record(ctx, []pact.Sighting{{Chirp: c, Minute: m, RSSI: -58, Source: pact.SourcePACT}})
		}
	}
	alice.Close()
	bob.Close()

	var bundle bytes.Buffer
	redact := (first + 60).Time().Format(time.RFC3339)
	if err := runBundle(ctx, []string{"--db", alicePath, "--exclude", redact}, &bundle); err != nil {
		t.Fatal(err)
	}
	tuplesPath := filepath.Join(dir, "bundle.json")
	os.WriteFile(tuplesPath, bundle.Bytes(), 0o600)
	var tuples []pact.Tuple
	if err := json.Unmarshal(bundle.Bytes(), &tuples); err != nil || len(tuples) != 3 {
		t.Fatalf("bundle = %s, %v; want 3 tuples", bundle.String(), err)
	}

	var out bytes.Buffer
	if err := runMatch(ctx, []string{"--db", bobPath, "--tuples", tuplesPath, "--format", "json"}, &out); err != nil {
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
	os.WriteFile(bad, []byte(`[{"seed":"xyz","start":1,"end":2}]`), 0o600)
	cases := []struct {
		name string
		run  func(context.Context, []string, io.Writer) error
		args []string
		want string
	}{
		{"match needs tuples", runMatch, []string{"--db", filepath.Join(dir, "d.db")}, "--tuples is required"},
		{"match bad tuple file", runMatch, []string{"--db", filepath.Join(dir, "d.db"), "--tuples", bad}, "want 64 hex digits"},
		{"match bad format", runMatch, []string{"--tuples", bad, "--format", "xml"}, "want text or json"},
		{"bundle bad exclude", runBundle, []string{"--db", filepath.Join(dir, "d.db"), "--exclude", "yesterday"}, "--exclude \"yesterday\""},
		{"simulate stray argument", runSimulate, []string{"extra"}, "unexpected argument"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := tc.run(context.Background(), tc.args, &out)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}
