package sqlitedb

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/pact-findmy/pact-findmy/internal/database"
	"github.com/pact-findmy/pact-findmy/internal/database/databasetest"
)

func open(t *testing.T) database.Store {
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "pact.db"), Options{Sync: SyncNormal})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestStore(t *testing.T) { databasetest.Run(t, open) }

// go test ./internal/database/sqlitedb -run '^$' -bench Cut1M -benchtime 1x
func BenchmarkCut1M(b *testing.B) {
	databasetest.BenchmarkCut(b, func(b *testing.B) database.Store {
		s, err := Open(context.Background(), filepath.Join(b.TempDir(), "pact.db"), Options{Sync: SyncNormal})
		if err != nil {
			b.Fatal(err)
		}
		return s
	}, 1_000_000)
}
