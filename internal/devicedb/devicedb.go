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
	"net/url"

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
	sqlDB, err := sql.Open("sqlite3", sqlitefile.DSN(path, q))
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

// SQL exposes the handle for packages that keep their own tables in the
// device database through their own migrations.
func (d *DB) SQL() *sql.DB { return d.db }

// migrate applies, each in its own transaction, every migration newer than
// the schema's user_version.
func (d *DB) migrate(ctx context.Context) error {
	ms, err := migrate.Load(migrationFiles, "migrations")
	if err != nil {
		return fmt.Errorf("devicedb: %w", err)
	}
	var current int
	if err := d.db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&current); err != nil {
		return fmt.Errorf("devicedb: reading schema version of %s: %w", d.path, err)
	}
	pending, err := migrate.Pending(ms, current)
	if err != nil {
		return fmt.Errorf("devicedb: %s: %w", d.path, err)
	}
	for _, m := range pending {
		err := d.inTx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", m.Version))
			return err
		})
		if err != nil {
			return fmt.Errorf("devicedb: applying migration %s to %s: %w", m.Name, d.path, err)
		}
	}
	return nil
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
