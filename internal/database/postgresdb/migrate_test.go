package postgresdb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/pact-findmy/pact-findmy/internal/migrate"
)

// freshSchema returns the name of a schema that does not exist yet, to be
// dropped after the test, and a connection for the test's own statements.
func freshSchema(t *testing.T, url string) (string, *pgx.Conn) {
	var b [6]byte
	rand.Read(b[:])
	schema := "test_" + hex.EncodeToString(b[:])
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := conn.Exec(ctx, `DROP SCHEMA IF EXISTS "`+schema+`" CASCADE`); err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
		}
		conn.Close(ctx)
	})
	return schema, conn
}

// TestOpenUpgradesOldSchema opens a schema an older program left at
// version 1, with a row in it: Open applies 0002 and keeps the row.
func TestOpenUpgradesOldSchema(t *testing.T) {
	url := testURL(t)
	schema, conn := freshSchema(t, url)
	ctx := context.Background()
	initSQL, err := migrations.ReadFile("migrations/0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`CREATE SCHEMA "` + schema + `"`,
		`SET search_path TO "` + schema + `"`,
		string(initSQL),
		`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY)`,
		`INSERT INTO schema_migrations (version) VALUES (1)`,
		`INSERT INTO permission_batches (provider, issued, issued_at, expires_at) VALUES ('old', 3, 1, 2)`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%.60s: %v", q, err)
		}
	}
	s, err := Open(ctx, url, Options{Schema: schema})
	if err != nil {
		t.Fatalf("opening the version 1 schema: %v", err)
	}
	defer s.Close()
	batches, err := s.PermissionBatches(ctx)
	if err != nil || len(batches) != 1 || batches[0].Provider != "old" || batches[0].Issued != 3 {
		t.Fatalf("permission batches after the upgrade = %+v, %v; want the old one", batches, err)
	}
	var versions []int
	rows, err := conn.Query(ctx, `SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	versions, err = pgx.CollectRows(rows, pgx.RowTo[int])
	latest := latestVersion(t)
	if err != nil || len(versions) != latest || versions[latest-1] != latest {
		t.Fatalf("schema_migrations = %v, %v; want 1..%d", versions, err, latest)
	}
	var findmyColumn int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'uploads' AND column_name = 'findmy'`, schema).Scan(&findmyColumn); err != nil || findmyColumn != 1 {
		t.Fatalf("uploads.findmy columns = %d, %v; want migration 0002 applied", findmyColumn, err)
	}
}

// TestReplicasMigrateOnce starts several replicas on one new schema at
// once: the advisory lock lets one migrate and the others find the
// schema current.
func TestReplicasMigrateOnce(t *testing.T) {
	url := testURL(t)
	schema, conn := freshSchema(t, url)
	ctx := context.Background()
	// Open's CREATE SCHEMA IF NOT EXISTS can race with itself in
	// PostgreSQL; the schema exists before the replicas start, empty.
	if _, err := conn.Exec(ctx, `CREATE SCHEMA "`+schema+`"`); err != nil {
		t.Fatal(err)
	}
	const n = 4
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := Open(ctx, url, Options{Schema: schema, MaxConns: 2})
			if err == nil {
				s.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d: %v", i, err)
		}
	}
	var rows, distinct int
	if err := conn.QueryRow(ctx, `SELECT count(*), count(DISTINCT version) FROM "`+schema+`".schema_migrations`).Scan(&rows, &distinct); err != nil {
		t.Fatal(err)
	}
	if latest := latestVersion(t); rows != latest || distinct != latest {
		t.Fatalf("schema_migrations holds %d rows of %d versions, want %d of %d", rows, distinct, latest, latest)
	}
}

// latestVersion is the version of the last embedded migration.
func latestVersion(t *testing.T) int {
	t.Helper()
	ms, err := migrate.Load(migrations, "migrations")
	if err != nil || len(ms) == 0 {
		t.Fatalf("loading the embedded migrations: %d, %v", len(ms), err)
	}
	return ms[len(ms)-1].Version
}
