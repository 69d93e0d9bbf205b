// Package migrate applies the numbered SQL migrations that each database
// of the project embeds, with one version scheme for all of them: a table
// schema_migrations holding one row per applied version, written in the
// same transaction as the migration itself.
//
// SQLite and PostgreSQL take their locks differently, so Apply works on a
// small interface, DB, that opens a transaction under the database's own
// lock; SQLite (BEGIN IMMEDIATE on a database/sql connection) is here,
// PostgreSQL (an advisory lock through pgx) lives with its store.
//
// A database (a SQLite file, a PostgreSQL schema) has one sequence of
// migrations: schema_migrations does not say which set a version came from.
package migrate

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// Migration is one schema change, read from a file named
// NNNN_description.sql.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Errors Load and Apply wrap, with the file or version at fault.
var (
	// ErrBadName: a file whose name does not start with a positive
	// version number and '_'.
	ErrBadName = errors.New("name must start with a positive version number and '_'")
	// ErrDuplicateVersion: two files with the same version number.
	ErrDuplicateVersion = errors.New("two migrations share a version")
	// ErrNewerSchema: the database was migrated by a later program, and
	// going on could corrupt it.
	ErrNewerSchema = errors.New("schema is newer than this program")
)

// A FileError names the migration file a Load or Apply error is about.
type FileError struct {
	File    string // the file's name, as Migration.Name
	Version int    // its version, 0 when the name has none
	Err     error
}

func (e *FileError) Error() string { return fmt.Sprintf("migration %s: %v", e.File, e.Err) }

// Unwrap returns the reason.
func (e *FileError) Unwrap() error { return e.Err }

// A VersionError is a database at a version this program cannot handle.
type VersionError struct {
	Database int // the version recorded in the database
	Program  int // the newest version this program has a migration for
}

func (e *VersionError) Error() string {
	return fmt.Sprintf("schema version %d is newer than this program's %d", e.Database, e.Program)
}

// Unwrap returns ErrNewerSchema.
func (e *VersionError) Unwrap() error { return ErrNewerSchema }

// Load reads every *.sql file in dir of fsys, in version order. Each name
// must start with a positive version number followed by '_', and no two
// files may share a version.
func Load(fsys fs.FS, dir string) ([]Migration, error) {
	names, err := fs.Glob(fsys, path.Join(dir, "*.sql"))
	if err != nil {
		return nil, fmt.Errorf("migrations in %s: %w", dir, err)
	}
	ms := make([]Migration, 0, len(names))
	seen := map[int]string{}
	for _, name := range names {
		base := path.Base(name)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, &FileError{File: base, Err: ErrBadName}
		}
		if other, dup := seen[v]; dup {
			return nil, &FileError{File: base, Version: v, Err: fmt.Errorf("%w: %s has version %d too", ErrDuplicateVersion, other, v)}
		}
		seen[v] = base
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, &FileError{File: base, Version: v, Err: err}
		}
		ms = append(ms, Migration{Version: v, Name: base, SQL: string(body)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	return ms, nil
}

// Pending returns the migrations newer than current, the version a
// database is at. A database newer than every migration was written by a
// later program: Pending returns a *VersionError.
func Pending(ms []Migration, current int) ([]Migration, error) {
	newest := 0
	if n := len(ms); n > 0 {
		newest = ms[n-1].Version
	}
	if current > newest {
		return nil, &VersionError{Database: current, Program: newest}
	}
	i := sort.Search(len(ms), func(i int) bool { return ms[i].Version > current })
	return ms[i:], nil
}

// DB is a database Apply can migrate.
type DB interface {
	// BeginLocked starts a transaction that holds the database's
	// migration lock until it ends, so that two processes opening the
	// same database at once apply each migration once: the second waits,
	// then finds nothing pending.
	BeginLocked(ctx context.Context) (Tx, error)
}

// Tx is the transaction Apply runs in. Apply passes no arguments to the
// statements, so that SQLite's and PostgreSQL's placeholders never matter.
type Tx interface {
	// Exec runs one or more statements.
	Exec(ctx context.Context, sql string) error
	// QueryInt runs a query whose result is one integer.
	QueryInt(ctx context.Context, sql string) (int, error)
	Commit(ctx context.Context) error
	Rollback(ctx context.Context) error
}

// Options change how Apply reads a database's version.
type Options struct {
	// Adopt, if set, runs in Apply's transaction whenever
	// schema_migrations is empty, and returns the version the database
	// recorded by an older scheme (0 for none). Apply then records the
	// migrations up to that version as applied instead of running them.
	Adopt func(ctx context.Context, tx Tx) (int, error)
}

// createTable is valid SQL for SQLite and PostgreSQL alike.
const createTable = `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY)`

// Apply brings db up to the newest of ms (as Load returns them) in one
// transaction under the database's migration lock: all pending migrations
// and their rows in schema_migrations, or none of them. It returns the
// migrations it ran.
func Apply(ctx context.Context, db DB, ms []Migration, opts Options) (applied []Migration, err error) {
	tx, err := db.BeginLocked(ctx)
	if err != nil {
		return nil, fmt.Errorf("taking the migration lock: %w", err)
	}
	defer func() {
		if err != nil {
			// The context may be what failed; the rollback must still run.
			tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	if err := tx.Exec(ctx, createTable); err != nil {
		return nil, fmt.Errorf("creating schema_migrations: %w", err)
	}
	current, err := tx.QueryInt(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`)
	if err != nil {
		return nil, fmt.Errorf("reading the schema version: %w", err)
	}
	if current == 0 && opts.Adopt != nil {
		old, err := opts.Adopt(ctx, tx)
		if err != nil {
			return nil, fmt.Errorf("reading the version of the older scheme: %w", err)
		}
		if _, err := Pending(ms, old); err != nil {
			return nil, err
		}
		for _, m := range ms {
			if m.Version > old {
				break
			}
			if err := record(ctx, tx, m); err != nil {
				return nil, err
			}
		}
		current = old
	}
	pending, err := Pending(ms, current)
	if err != nil {
		return nil, err
	}
	for _, m := range pending {
		if err := tx.Exec(ctx, m.SQL); err != nil {
			return nil, &FileError{File: m.Name, Version: m.Version, Err: err}
		}
		if err := record(ctx, tx, m); err != nil {
			return nil, err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("committing migrations: %w", err)
	}
	return pending, nil
}

func record(ctx context.Context, tx Tx, m Migration) error {
	// The version is an int from Load, so formatting it into the statement
	// is safe.
	if err := tx.Exec(ctx, "INSERT INTO schema_migrations (version) VALUES ("+strconv.Itoa(m.Version)+")"); err != nil {
		return &FileError{File: m.Name, Version: m.Version, Err: fmt.Errorf("recording the version: %w", err)}
	}
	return nil
}
