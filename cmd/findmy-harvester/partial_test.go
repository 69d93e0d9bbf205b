package main

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"github.com/pact-findmy/pact-findmy/findmy"
	"github.com/pact-findmy/pact-findmy/internal/devicedb"
	"github.com/pact-findmy/pact-findmy/pact"
)

// TestReplayStoresPartialSightings checks that the short-form frame of the
// known capture reaches the partial sightings table with its 48-bit
// prefix, and not the contact log (docs/findmy.md §3.2, §7).
func TestReplayStoresPartialSightings(t *testing.T) {
	for _, batch := range []string{"1", "20000"} {
		t.Run("batch "+batch, func(t *testing.T) {
			dbPath := filepath.Join(t.TempDir(), "contacts.db")
			var stdout, stderr bytes.Buffer
			if code := run(context.Background(), []string{"replay", "--db", dbPath, "--batch", batch, "testdata/known.btsnoop"}, &stdout, &stderr); code != 0 {
				t.Fatalf("exit code %d; stderr:\n%s", code, stderr.String())
			}
			db, err := devicedb.Open(dbPath)
			must(t, err)
			defer db.Close()
			var got []devicedb.PartialSighting
			must(t, db.PartialSightings(context.Background(), 0, ^pact.Minute(0), func(p devicedb.PartialSighting) error {
				got = append(got, p)
				return nil
			}))
			want := devicedb.PartialSighting{
				Minute: 29539474, Prefix: findmy.Prefix{0xd5, 0x11, 0x22, 0x33, 0x44, 0x55},
				Bits: devicedb.PartialBitsShort, RSSI: pact.RSSIUnknown,
			}
			if len(got) != 1 || got[0] != want {
				t.Fatalf("partial sightings %+v, want [%+v]", got, want)
			}
		})
	}
}
