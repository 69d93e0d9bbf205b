package sqlitedb

import (
	"context"
	"path/filepath"
	"slices"
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

// The uploads table must hold nothing that links a row to the permission
// number that paid for it, nor to the uploader (docs/api.md, "Privacy").
func TestUploadsCarryNoLink(t *testing.T) {
	s := open(t).(*Store)
	rows, err := s.r.Query(`SELECT name FROM pragma_table_info('uploads') ORDER BY cid`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var cols []string
	for rows.Next() {
		var c string
		rows.Scan(&c)
		cols = append(cols, c)
	}
	want := []string{"id", "region", "period_start", "tuple_count", "min_start", "tuples", "reverse_from", "reverse_to", "batch_seq", "findmy"}
	if !slices.Equal(cols, want) {
		t.Fatalf("uploads columns %v, want exactly %v; a new column must not link an upload to its number, address or exact time", cols, want)
	}
	fks, err := s.r.Query(`SELECT "table" FROM pragma_foreign_key_list('uploads')`)
	if err != nil {
		t.Fatal(err)
	}
	defer fks.Close()
	if fks.Next() {
		t.Fatal("uploads has a foreign key")
	}
}
