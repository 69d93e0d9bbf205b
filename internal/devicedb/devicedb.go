// Package devicedb stores a device's PACT logs in SQLite: the seed log, the
// contact log and match results. It implements pact.SeedStore and
// pact.ContactStore.
//
// The database runs in WAL mode with synchronous=FULL, so a write that
// returned is on disk, and with secure_delete, so that retention erases
// data rather than unlinking pages that still hold it (spec §5.3).
package devicedb

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"math"
	"net/url"
	"strconv"

	_ "github.com/mattn/go-sqlite3" // registers the "sqlite3" driver
	"github.com/pact-findmy/pact-findmy/internal/migrate"
	"github.com/pact-findmy/pact-findmy/internal/sqlitefile"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// DB is an open device database. It is safe for concurrent use.
type DB struct {
	db   *sql.DB
	path string
}

// Open opens or creates the database at path and applies pending
// migrations.
func Open(path string) (*DB, error) {
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", "FULL")
	q.Set("_secure_delete", "on")
	q.Set("_busy_timeout", "10000")
	q.Set("_txlock", "immediate")
	q.Set("_foreign_keys", "on")
	if err := sqlitefile.Create(path); err != nil {
		return nil, fmt.Errorf("devicedb: %w", err)
	}
	dsn, err := sqlitefile.DSN(path, q)
	if err != nil {
		return nil, fmt.Errorf("devicedb: opening %s: %w", path, err)
	}
	sqlDB, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return nil, fmt.Errorf("devicedb: opening %s: %w", path, err)
	}
	// One writer at a time is SQLite's model; readers share WAL snapshots.
	sqlDB.SetMaxOpenConns(4)
	d := &DB{db: sqlDB, path: path}
	if err := d.migrate(context.Background()); err != nil {
		sqlDB.Close()
		return nil, err
	}
	// A move to the hidden mode that was interrupted finishes before
	// anything else reads the log (spec §9.3.4).
	if mode, err := d.ContactLogMode(context.Background()); err != nil {
		sqlDB.Close()
		return nil, err
	} else if mode == ModeHidden {
		if _, err := d.finishHiding(context.Background(), nil); err != nil {
			sqlDB.Close()
			return nil, err
		}
	}
	return d, nil
}

// Close checkpoints the WAL into the main file and closes the database.
func (d *DB) Close() error {
	_, cerr := d.db.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
	if err := d.db.Close(); err != nil {
		return fmt.Errorf("devicedb: closing %s: %w", d.path, err)
	}
	if cerr != nil {
		return fmt.Errorf("devicedb: checkpointing %s: %w", d.path, cerr)
	}
	return nil
}

// SQL exposes the handle for reading the device database directly. New
// tables belong in this package's migrations/: schema_migrations holds one
// sequence of versions per file, so a second set of migrations applied to
// the same file would be taken as already applied.
func (d *DB) SQL() *sql.DB { return d.db }

// userVersionRetired is what PRAGMA user_version holds once a file keeps
// its version in schema_migrations. Before that, devicedb recorded its
// schema version in user_version; a program of that time opening a newer
// file then refuses it as "newer than this program" instead of running
// against a schema it does not know.
const userVersionRetired = math.MaxInt32

// migrate applies every pending migration (migrate.Apply). A file from
// before schema_migrations is adopted at the version its user_version
// says.
func (d *DB) migrate(ctx context.Context) error {
	ms, err := migrate.Load(migrationFiles, "migrations")
	if err != nil {
		return fmt.Errorf("devicedb: %w", err)
	}
	if _, err := migrate.Apply(ctx, migrate.SQLite(d.db), ms, migrate.Options{Adopt: adoptUserVersion}); err != nil {
		return fmt.Errorf("devicedb: migrating %s: %w", d.path, err)
	}
	return nil
}

// adoptUserVersion returns the version an older devicedb recorded in
// PRAGMA user_version and retires that record.
func adoptUserVersion(ctx context.Context, tx migrate.Tx) (int, error) {
	v, err := tx.QueryInt(ctx, "PRAGMA user_version")
	if err != nil {
		return 0, err
	}
	if v == userVersionRetired {
		return 0, fmt.Errorf("user_version %d says the version is kept in schema_migrations, which is empty", v)
	}
	// The pragma is written in the transaction and rolls back with it.
	if err := tx.Exec(ctx, "PRAGMA user_version = "+strconv.Itoa(userVersionRetired)); err != nil {
		return 0, err
	}
	return v, nil
}

func (d *DB) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}
