package migrate

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
)

// SQLite adapts a database/sql handle on SQLite to DB. Its transaction
// runs on one connection and starts with BEGIN IMMEDIATE, which takes
// SQLite's write lock at once (waiting up to the connection's busy
// timeout), whatever transaction mode the handle's DSN asks for.
func SQLite(db *sql.DB) DB { return sqliteDB{db} }

type sqliteDB struct{ db *sql.DB }

type sqliteTx struct{ conn *sql.Conn }

func (s sqliteDB) BeginLocked(ctx context.Context) (Tx, error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		conn.Close()
		return nil, err
	}
	return sqliteTx{conn}, nil
}

func (t sqliteTx) Exec(ctx context.Context, q string) error {
	_, err := t.conn.ExecContext(ctx, q)
	return err
}

func (t sqliteTx) QueryInt(ctx context.Context, q string) (int, error) {
	var v int
	err := t.conn.QueryRowContext(ctx, q).Scan(&v)
	return v, err
}

func (t sqliteTx) Commit(ctx context.Context) error {
	if _, err := t.conn.ExecContext(ctx, "COMMIT"); err != nil {
		return errors.Join(err, t.Rollback(context.WithoutCancel(ctx)))
	}
	return t.conn.Close()
}

// Rollback ends the transaction. A connection that cannot roll back is
// discarded rather than returned to the pool inside a transaction.
func (t sqliteTx) Rollback(ctx context.Context) error {
	_, err := t.conn.ExecContext(ctx, "ROLLBACK")
	if err != nil {
		t.conn.Raw(func(any) error { return driver.ErrBadConn })
	}
	return errors.Join(err, t.conn.Close())
}
