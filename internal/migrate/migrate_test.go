package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"testing/fstest"

	_ "github.com/mattn/go-sqlite3"
)

func TestLoad(t *testing.T) {
	cases := []struct {
		dir      string
		versions []int
		err      error
		file     string
		version  int
	}{
		{"testdata/good", []int{1, 2, 10}, nil, "", 0},
		{"testdata/dup", nil, ErrDuplicateVersion, "01_b.sql", 1},
		{"testdata/badname", nil, ErrBadName, "init.sql", 0},
		{"testdata/none", []int{}, nil, "", 0},
	}
	for _, tc := range cases {
		t.Run(tc.dir, func(t *testing.T) {
			ms, err := Load(os.DirFS("."), tc.dir)
			if tc.err != nil {
				var fe *FileError
				if !errors.Is(err, tc.err) || !errors.As(err, &fe) {
					t.Fatalf("error = %v, want a *FileError wrapping %v", err, tc.err)
				}
				if fe.File != tc.file || fe.Version != tc.version {
					t.Fatalf("error names %s version %d, want %s version %d", fe.File, fe.Version, tc.file, tc.version)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(ms) != len(tc.versions) {
				t.Fatalf("loaded %d migrations, want %d", len(ms), len(tc.versions))
			}
			for i, v := range tc.versions {
				if ms[i].Version != v || ms[i].SQL == "" {
					t.Errorf("migration %d = %+v, want version %d with SQL", i, ms[i], v)
				}
			}
		})
	}
}

func TestPending(t *testing.T) {
	ms, err := Load(os.DirFS("."), "testdata/good")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		current int
		want    []int
		newer   bool
	}{
		{0, []int{1, 2, 10}, false},
		{1, []int{2, 10}, false},
		{5, []int{10}, false},
		{10, nil, false},
		{11, nil, true},
	}
	for _, tc := range cases {
		got, err := Pending(ms, tc.current)
		if tc.newer {
			var ve *VersionError
			if !errors.Is(err, ErrNewerSchema) || !errors.As(err, &ve) || ve.Database != tc.current || ve.Program != 10 {
				t.Fatalf("Pending(%d) error = %v, want a *VersionError{%d, 10}", tc.current, err, tc.current)
			}
			continue
		}
		if err != nil {
			t.Fatalf("Pending(%d) error = %v", tc.current, err)
		}
		if len(got) != len(tc.want) {
			t.Fatalf("Pending(%d) = %d migrations, want %v", tc.current, len(got), tc.want)
		}
		for i, v := range tc.want {
			if got[i].Version != v {
				t.Errorf("Pending(%d)[%d] = %d, want %d", tc.current, i, got[i].Version, v)
			}
		}
	}
}

func openSQLite(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?_journal_mode=WAL&_busy_timeout=10000")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func versions(t *testing.T, db *sql.DB) []int {
	t.Helper()
	rows, err := db.Query(`SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var vs []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return vs
}

func tableExists(t *testing.T, db *sql.DB, name string) bool {
	t.Helper()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?`, name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n == 1
}

func load(t *testing.T, dir string) []Migration {
	t.Helper()
	ms, err := Load(os.DirFS("."), dir)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

// TestApplySQLite runs the whole life of a database: created, migrated,
// reopened with nothing to do, then upgraded by a later program.
func TestApplySQLite(t *testing.T) {
	ctx := context.Background()
	db := openSQLite(t, filepath.Join(t.TempDir(), "m.db"))
	ms := load(t, "testdata/good")
	first, err := Apply(ctx, SQLite(db), ms[:2], Options{})
	if err != nil || len(first) != 2 {
		t.Fatalf("first Apply = %d migrations, %v; want 2", len(first), err)
	}
	if again, err := Apply(ctx, SQLite(db), ms[:2], Options{}); err != nil || len(again) != 0 {
		t.Fatalf("second Apply = %d migrations, %v; want none", len(again), err)
	}
	later, err := Apply(ctx, SQLite(db), ms, Options{})
	if err != nil || len(later) != 1 || later[0].Version != 10 {
		t.Fatalf("upgrade = %+v, %v; want migration 10", later, err)
	}
	if got := versions(t, db); fmt.Sprint(got) != "[1 2 10]" {
		t.Fatalf("schema_migrations = %v, want [1 2 10]", got)
	}
	for _, table := range []string{"a", "b", "c"} {
		if !tableExists(t, db, table) {
			t.Errorf("table %s missing", table)
		}
	}
	// An older program refuses the upgraded file and leaves it alone.
	_, err = Apply(ctx, SQLite(db), ms[:2], Options{})
	var ve *VersionError
	if !errors.Is(err, ErrNewerSchema) || !errors.As(err, &ve) || ve.Database != 10 || ve.Program != 2 {
		t.Fatalf("older program: error %v, want a *VersionError{10, 2}", err)
	}
	if got := versions(t, db); fmt.Sprint(got) != "[1 2 10]" {
		t.Fatalf("schema_migrations after the refusal = %v, want [1 2 10]", got)
	}
}

// TestApplyAllOrNothing checks that a failing migration leaves the
// database as it was, including the migrations before it in the same run.
func TestApplyAllOrNothing(t *testing.T) {
	ctx := context.Background()
	db := openSQLite(t, filepath.Join(t.TempDir(), "m.db"))
	_, err := Apply(ctx, SQLite(db), load(t, "testdata/broken"), Options{})
	var fe *FileError
	if !errors.As(err, &fe) || fe.File != "0002_fails.sql" || fe.Version != 2 {
		t.Fatalf("error = %v, want a *FileError naming 0002_fails.sql", err)
	}
	for _, table := range []string{"a", "b", "schema_migrations"} {
		if tableExists(t, db, table) {
			t.Errorf("table %s exists after the failed run", table)
		}
	}
	// The connection went back to the pool outside any transaction.
	if _, err := Apply(ctx, SQLite(db), load(t, "testdata/good"), Options{}); err != nil {
		t.Fatalf("Apply after the failure: %v", err)
	}
}

// TestApplyConcurrent opens one file from several handles at once, as
// several processes would: BEGIN IMMEDIATE lets one migrate, and the
// others find nothing pending.
func TestApplyConcurrent(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "m.db")
	ms := load(t, "testdata/good")
	const n = 4
	var wg sync.WaitGroup
	ran := make([]int, n)
	errs := make([]error, n)
	for i := range n {
		db := openSQLite(t, path)
		wg.Add(1)
		go func() {
			defer wg.Done()
			applied, err := Apply(ctx, SQLite(db), ms, Options{})
			ran[i], errs[i] = len(applied), err
		}()
	}
	wg.Wait()
	total := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("handle %d: %v", i, errs[i])
		}
		total += ran[i]
	}
	if total != len(ms) {
		t.Fatalf("%d migrations ran over %d handles, want %d", total, n, len(ms))
	}
	if got := versions(t, openSQLite(t, path)); fmt.Sprint(got) != "[1 2 10]" {
		t.Fatalf("schema_migrations = %v, want [1 2 10]", got)
	}
}

// TestApplyAdopt takes over a database whose version an older scheme
// recorded: the migrations up to it are recorded, not run again.
func TestApplyAdopt(t *testing.T) {
	ctx := context.Background()
	ms := load(t, "testdata/good")
	cases := []struct {
		name     string
		old      int
		adoptErr error
		ran      []int
		err      error
	}{
		{"fresh", 0, nil, []int{1, 2, 10}, nil},
		{"at 2", 2, nil, []int{10}, nil},
		{"at the newest", 10, nil, nil, nil},
		{"newer than the program", 11, nil, nil, ErrNewerSchema},
		{"adopt fails", 0, errAdopt, nil, errAdopt},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			db := openSQLite(t, filepath.Join(t.TempDir(), "m.db"))
			// The tables an older program created up to tc.old.
			for _, m := range ms {
				if m.Version <= tc.old {
					if _, err := db.Exec(m.SQL); err != nil {
						t.Fatal(err)
					}
				}
			}
			calls := 0
			adopt := func(context.Context, Tx) (int, error) { calls++; return tc.old, tc.adoptErr }
			applied, err := Apply(ctx, SQLite(db), ms, Options{Adopt: adopt})
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("error %v, want %v", err, tc.err)
				}
				if tableExists(t, db, "schema_migrations") {
					t.Fatal("schema_migrations created by a failed adoption")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var ran []int
			for _, m := range applied {
				ran = append(ran, m.Version)
			}
			if fmt.Sprint(ran) != fmt.Sprint(tc.ran) {
				t.Fatalf("ran %v, want %v", ran, tc.ran)
			}
			if got := versions(t, db); fmt.Sprint(got) != "[1 2 10]" {
				t.Fatalf("schema_migrations = %v, want [1 2 10]", got)
			}
			// Once schema_migrations holds rows, the old scheme is not asked again.
			if _, err := Apply(ctx, SQLite(db), ms, Options{Adopt: adopt}); err != nil || calls != 1 {
				t.Fatalf("second Apply: %v, adopt called %d times, want once", err, calls)
			}
		})
	}
}

var errAdopt = errors.New("adopt failed")

// TestApplyEmbedded reads migrations from an fs.FS other than the disk, as
// the stores' embed.FS.
func TestApplyEmbedded(t *testing.T) {
	fsys := fstest.MapFS{"m/0001_t.sql": {Data: []byte("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (7);")}}
	ms, err := Load(fsys, "m")
	if err != nil {
		t.Fatal(err)
	}
	db := openSQLite(t, filepath.Join(t.TempDir(), "m.db"))
	if _, err := Apply(context.Background(), SQLite(db), ms, Options{}); err != nil {
		t.Fatal(err)
	}
	var x int
	if err := db.QueryRow(`SELECT x FROM t`).Scan(&x); err != nil || x != 7 {
		t.Fatalf("both statements of one file: x = %d, %v", x, err)
	}
}
