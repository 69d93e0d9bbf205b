package devicedb

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/pact-findmy/pact-findmy/pact"
)

var _ pact.SeedStore = (*DB)(nil)

// PutSeed implements pact.SeedStore.
func (d *DB) PutSeed(ctx context.Context, r pact.SeedRecord) (pact.SeedRecord, error) {
	var kept pact.SeedRecord
	err := d.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO seeds (hour, start, seed) VALUES (?, ?, ?) ON CONFLICT (hour) DO NOTHING`,
			int64(r.Hour()), int64(r.Start), r.Seed[:]); err != nil {
			return err
		}
		var err error
		kept, err = scanSeed(tx.QueryRowContext(ctx, `SELECT hour, start, seed FROM seeds WHERE hour = ?`, int64(r.Hour())))
		return err
	})
	if err != nil {
		return pact.SeedRecord{}, fmt.Errorf("devicedb: storing the seed of hour %v: %w", r.Hour(), err)
	}
	return kept, nil
}

// Seeds implements pact.SeedStore.
func (d *DB) Seeds(ctx context.Context, from, to pact.Minute, fn func(pact.SeedRecord) error) error {
	rows, err := d.db.QueryContext(ctx, `SELECT hour, start, seed FROM seeds WHERE hour BETWEEN ? AND ? ORDER BY hour`, int64(from), int64(to))
	if err != nil {
		return fmt.Errorf("devicedb: reading seeds %v..%v: %w", from, to, err)
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scanSeed(rows)
		if err != nil {
			return fmt.Errorf("devicedb: reading seeds %v..%v: %w", from, to, err)
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("devicedb: reading seeds %v..%v: %w", from, to, err)
	}
	return nil
}

// DeleteSeedsBefore implements pact.SeedStore.
func (d *DB) DeleteSeedsBefore(ctx context.Context, m pact.Minute) (int64, error) {
	return d.erase(ctx, m, `DELETE FROM seeds WHERE hour < ?`)
}

type rowScanner interface{ Scan(...any) error }

func scanSeed(row rowScanner) (pact.SeedRecord, error) {
	var (
		hour, start int64
		seed        []byte
	)
	if err := row.Scan(&hour, &start, &seed); err != nil {
		return pact.SeedRecord{}, err
	}
	if len(seed) != pact.SeedSize {
		return pact.SeedRecord{}, &RowError{Row: "seed", Column: "seed", Value: int64(len(seed)), Want: fmt.Sprintf("%d bytes", pact.SeedSize)}
	}
	start32, err := storedMinute("seed", "start", start)
	if err != nil {
		return pact.SeedRecord{}, err
	}
	// The hour is the key and the start says which hour the seed serves;
	// a row where they disagree would upload a window of the wrong hour.
	if int64(start32.HourStart()) != hour {
		return pact.SeedRecord{}, &RowError{Row: "seed", Column: "start", Value: start, Want: fmt.Sprintf("a minute of the hour starting at %d", hour)}
	}
	return pact.SeedRecord{Seed: pact.Seed(seed), Start: start32}, nil
}

// storedMinute checks a minute column read back from the database: SQLite
// stores any integer, and a row written by another program or damaged on
// disk must fail with its values rather than wrap into another minute.
func storedMinute(row, column string, v int64) (pact.Minute, error) {
	if v < 0 || v > int64(^uint32(0)) {
		return 0, &RowError{Row: row, Column: column, Value: v, Want: fmt.Sprintf("a minute in 0..%d", ^uint32(0))}
	}
	return pact.Minute(v), nil
}

// storedRSSI checks an RSSI column read back from the database.
func storedRSSI(row string, v int64) (int8, error) {
	if v < -128 || v > 127 {
		return 0, &RowError{Row: row, Column: "rssi", Value: v, Want: "-128..127"}
	}
	return int8(v), nil
}

// storedTxPower checks a stored TX power (migration 0008): a reading in
// pact.TxPowerMin..TxPowerMax, or pact.TxPowerUnknown.
func storedTxPower(row string, v int64) (int8, error) {
	if v != int64(pact.TxPowerUnknown) && (v < int64(pact.TxPowerMin) || v > int64(pact.TxPowerMax)) {
		return 0, &RowError{Row: row, Column: "tx_power", Value: v, Want: fmt.Sprintf("%d..%d or %d", pact.TxPowerMin, pact.TxPowerMax, pact.TxPowerUnknown)}
	}
	return int8(v), nil
}

// erase runs retention deletes, each with m as its only parameter, in one
// transaction and then truncates the WAL, so the erased rows survive
// neither in the main file (secure_delete) nor in old WAL frames. It
// returns how many rows the last statement erased: the log's own table
// comes last, after the tables derived from it.
func (d *DB) erase(ctx context.Context, m pact.Minute, stmts ...string) (int64, error) {
	counts, err := d.eraseWith(ctx, m, nil, stmts...)
	if err != nil {
		return 0, err
	}
	return counts[len(counts)-1], nil
}

// eraseCounted is erase for statements that end with the contact log's:
// the dashboard aggregates lose the erased rows in the same transaction.
// It returns the rows the last two statements erased: the plain and the
// sealed contact log.
func (d *DB) eraseCounted(ctx context.Context, m pact.Minute, stmts ...string) (int64, error) {
	erased, err := d.eraseWith(ctx, m, func(tx *sql.Tx, erase func() error) error {
		counts := newContactCounts()
		if err := countErased(ctx, tx, counts, m); err != nil {
			return err
		}
		if err := erase(); err != nil {
			return err
		}
		return counts.apply(ctx, tx)
	}, stmts...)
	if err != nil {
		return 0, err
	}
	return erased[len(erased)-1] + erased[len(erased)-2], nil
}

// eraseWith is erase returning the rows each statement erased; around,
// when set, runs the deletes through erase inside the transaction.
func (d *DB) eraseWith(ctx context.Context, m pact.Minute, around func(tx *sql.Tx, erase func() error) error, stmts ...string) ([]int64, error) {
	erased := make([]int64, len(stmts))
	err := d.inTx(ctx, func(tx *sql.Tx) error {
		if around != nil {
			return around(tx, func() error { return runErase(ctx, tx, m, stmts, erased) })
		}
		return runErase(ctx, tx, m, stmts, erased)
	})
	if err != nil {
		return nil, fmt.Errorf("devicedb: erasing rows before %v: %w", m, err)
	}
	var total int64
	for _, n := range erased {
		total += n
	}
	if total > 0 {
		if _, err := d.db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
			return erased, fmt.Errorf("devicedb: checkpointing after erasing rows before %v: %w", m, err)
		}
	}
	return erased, nil
}

// runErase runs the retention deletes of erase, counting rows erased.
func runErase(ctx context.Context, tx *sql.Tx, m pact.Minute, stmts []string, erased []int64) error {
	for i, stmt := range stmts {
		res, err := tx.ExecContext(ctx, stmt, int64(m))
		if err != nil {
			return fmt.Errorf("%s: %w", stmt, err)
		}
		erased[i], _ = res.RowsAffected()
	}
	return nil
}
