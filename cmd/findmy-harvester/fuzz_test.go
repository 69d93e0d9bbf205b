package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/pact-findmy/pact-findmy/hci"
)

// FuzzReplay feeds arbitrary files to the capture source: it must either
// refuse the file when opening it or read it to the end without error,
// skipping what is broken, and never panic.
func FuzzReplay(f *testing.F) {
	for _, name := range []string{"known.btsnoop", "known.pcap", "truncated.btsnoop"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	dir := f.TempDir()
	log := slog.New(slog.DiscardHandler)
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "capture")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		src, err := openCapture(path, log)
		if err != nil {
			return
		}
		defer src.Close()
		err = src.Reports(context.Background(), func(r *hci.AdvReport) error {
			if len(r.Data) > 255+31 {
				t.Fatalf("report with %d bytes of data", len(r.Data))
			}
			return nil
		})
		// Broken records are counted and skipped, never returned: a
		// readable file must replay to its end without error.
		if err != nil {
			t.Fatalf("Reports: %v", err)
		}
	})
}
