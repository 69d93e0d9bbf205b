// Package postgresdb is the scale-out backend of database.Store: several
// pact-server replicas share one PostgreSQL. Spending a permission number
// relies on the row lock of a conditional UPDATE, and only one replica
// cuts batches at a time thanks to a transaction-scoped advisory lock.
package postgresdb

import (
	"context"
	"crypto/rand"
	"embed"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pact-findmy/pact-findmy/internal/batch"
	"github.com/pact-findmy/pact-findmy/internal/database"
	"github.com/pact-findmy/pact-findmy/internal/migrate"
	"github.com/pact-findmy/pact-findmy/pact"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Options tune Open.
type Options struct {
	// Schema, when set, is created if missing and used as the search path,
	// so that tests (or tenants) share one database without interfering.
	Schema string
	// MaxConns bounds the pool; 0 leaves the pgxpool default.
	MaxConns int32
}

// Store is a database.Store on PostgreSQL.
type Store struct {
	pool *pgxpool.Pool
}

var _ database.Store = (*Store)(nil)

// Open connects to url and applies pending migrations.
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres URL: %w", err)
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	if opts.Schema != "" {
		if strings.ContainsAny(opts.Schema, "\"\x00") {
			return nil, fmt.Errorf("postgres schema %q: quotes and NUL are not allowed", opts.Schema)
		}
		conn, err := pgx.ConnectConfig(ctx, cfg.ConnConfig.Copy())
		if err != nil {
			return nil, fmt.Errorf("connecting to postgres: %w", err)
		}
		_, err = conn.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS "`+opts.Schema+`"`)
		conn.Close(ctx)
		if err != nil {
			return nil, fmt.Errorf("creating schema %s: %w", opts.Schema, err)
		}
		cfg.ConnConfig.RuntimeParams["search_path"] = opts.Schema
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting to postgres: %w", err)
	}
	s := &Store{pool: pool}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("migrating postgres: %w", err)
	}
	return s, nil
}

// Close closes the pool.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

func (s *Store) migrate(ctx context.Context) error {
	ms, err := migrate.Load(migrations, "migrations")
	if err != nil {
		return err
	}
	_, err = migrate.Apply(ctx, migrator{s.pool}, ms, migrate.Options{})
	return err
}

// migrator is the pool as a migrate.DB. Its lock is a transaction-scoped
// advisory lock per schema, so that replicas starting together apply each
// migration once, and tenants in other schemas do not wait for each other.
type migrator struct{ pool *pgxpool.Pool }

type migratorTx struct{ tx pgx.Tx }

func (m migrator) BeginLocked(ctx context.Context) (migrate.Tx, error) {
	tx, err := m.pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext(current_schema() || ':migrate'))`); err != nil {
		tx.Rollback(context.WithoutCancel(ctx))
		return nil, err
	}
	return migratorTx{tx}, nil
}

func (t migratorTx) Exec(ctx context.Context, sql string) error {
	_, err := t.tx.Exec(ctx, sql)
	return err
}

func (t migratorTx) QueryInt(ctx context.Context, sql string) (int, error) {
	var v int
	err := t.tx.QueryRow(ctx, sql).Scan(&v)
	return v, err
}

func (t migratorTx) Commit(ctx context.Context) error   { return t.tx.Commit(ctx) }
func (t migratorTx) Rollback(ctx context.Context) error { return t.tx.Rollback(ctx) }

// IssuePermissions implements database.Store.
func (s *Store) IssuePermissions(ctx context.Context, provider string, hashes [][]byte, issuedAt, expiresAt time.Time) (int64, error) {
	if err := database.ValidProvider(provider); err != nil {
		return 0, err
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("issuing to %s: %w", provider, err)
	}
	defer tx.Rollback(ctx)
	var id int64
	if err := tx.QueryRow(ctx, `INSERT INTO permission_batches (provider, issued, issued_at, expires_at) VALUES ($1, $2, $3, $4) RETURNING id`,
		provider, len(hashes), issuedAt.Unix(), expiresAt.Unix()).Scan(&id); err != nil {
		return 0, fmt.Errorf("issuing to %s: %w", provider, err)
	}
	rows := make([][]any, len(hashes))
	for i, h := range hashes {
		rows[i] = []any{h, id}
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"permission_numbers"}, []string{"hash", "batch_id"}, pgx.CopyFromRows(rows)); err != nil {
		return 0, fmt.Errorf("issuing to %s: storing number hashes: %w", provider, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("issuing to %s: %w", provider, err)
	}
	return id, nil
}

// RevokePermissionBatch implements database.Store.
func (s *Store) RevokePermissionBatch(ctx context.Context, id int64) error {
	tag, err := s.pool.Exec(ctx, `UPDATE permission_batches SET revoked = TRUE WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("revoking batch %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("revoking batch %d: %w", id, database.ErrNotFound)
	}
	return nil
}

// PermissionBatches implements database.Store.
func (s *Store) PermissionBatches(ctx context.Context) ([]database.PermissionBatch, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, provider, issued, used, revoked, issued_at, expires_at FROM permission_batches ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("listing permission batches: %w", err)
	}
	defer rows.Close()
	var out []database.PermissionBatch
	for rows.Next() {
		var b database.PermissionBatch
		var issued, used, issuedAt, expires int64
		if err := rows.Scan(&b.ID, &b.Provider, &issued, &used, &b.Revoked, &issuedAt, &expires); err != nil {
			return nil, fmt.Errorf("listing permission batches: %w", err)
		}
		b.Issued, b.Used = int(issued), int(used)
		b.IssuedAt, b.ExpiresAt = time.Unix(issuedAt, 0).UTC(), time.Unix(expires, 0).UTC()
		out = append(out, b)
	}
	return out, rows.Err()
}

// SpendAndStore implements database.Store.
func (s *Store) SpendAndStore(ctx context.Context, hash []byte, now time.Time, up *database.Upload) error {
	blob, err := pact.EncodeTuples(up.Tuples)
	if err != nil {
		return fmt.Errorf("encoding upload: %w", err)
	}
	fm, err := batch.EncodeFindMyList(up.FindMy)
	if err != nil {
		return fmt.Errorf("encoding upload: %w", err)
	}
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return fmt.Errorf("drawing an upload id: %w", err)
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("spending a permission number: %w", err)
	}
	defer tx.Rollback(ctx)
	// The row lock taken by UPDATE makes concurrent spenders of one number
	// queue; each re-evaluates "NOT n.used" after the first commits, so
	// exactly one sees a row.
	var batchID int64
	err = tx.QueryRow(ctx, `UPDATE permission_numbers n SET used = TRUE FROM permission_batches b
		WHERE n.hash = $1 AND b.id = n.batch_id AND NOT n.used AND NOT b.revoked AND b.expires_at > $2
		RETURNING n.batch_id`, hash, now.Unix()).Scan(&batchID)
	if errors.Is(err, pgx.ErrNoRows) {
		// Not issued here, or refused: a number of a separate authority's
		// feed (docs/deploy.md) is spent under the same row lock rule.
		var one int
		err = tx.QueryRow(ctx, `UPDATE feed_numbers SET used = TRUE WHERE hash = $1 AND NOT used AND expires_at > $2 RETURNING 1`, hash, now.Unix()).Scan(&one)
		batchID = -1
	}
	if errors.Is(err, pgx.ErrNoRows) {
		refusal := s.whyRefused(ctx, tx, hash, now)
		if isRefusal(refusal) {
			padRefusal(ctx, tx)
		}
		return refusal
	}
	if err != nil {
		return fmt.Errorf("spending a permission number: %w", err)
	}
	if batchID >= 0 {
		if _, err := tx.Exec(ctx, `UPDATE permission_batches SET used = used + 1 WHERE id = $1`, batchID); err != nil {
			return fmt.Errorf("spending a permission number: %w", err)
		}
	}
	if _, err := tx.Exec(ctx, `INSERT INTO uploads (id, region, period_start, tuple_count, min_start, tuples, findmy, reverse_from, reverse_to) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		id, up.Region, int64(up.PeriodStart), len(up.Tuples), int64(database.MinStart(up.Tuples, up.FindMy)), blob, fm, int64(up.ReverseFrom), int64(up.ReverseTo)); err != nil {
		return fmt.Errorf("storing upload for region %s: %w", up.Region, err)
	}
	// A COMMIT cut off by ctx leaves its outcome unknown to us (pgx closes
	// the connection, the server may have committed), and the answer must
	// match what is stored, so the commit runs to its end whatever ctx
	// does. Until here an ended ctx aborts the transaction: not stored.
	if err := tx.Commit(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("committing upload for region %s: %w", up.Region, err)
	}
	return nil
}

// isRefusal tells a refused number from a failure to find out.
func isRefusal(err error) bool {
	return errors.Is(err, database.ErrPermissionUnknown) || errors.Is(err, database.ErrPermissionUsed) ||
		errors.Is(err, database.ErrPermissionExpired) || errors.Is(err, database.ErrPermissionRevoked)
}

// paddingSlots is the number of rows of commit_padding (migration 0003).
const paddingSlots = 64

// padRefusal writes database.RefusalPaddingBytes of random bytes over a
// random commit_padding row and commits, so that a refused upload is
// answered after a WAL flush as a stored one is. The refusal stands
// whatever happens here: nothing of the upload is in tx.
func padRefusal(ctx context.Context, tx pgx.Tx) {
	noise := make([]byte, database.RefusalPaddingBytes+1)
	if _, err := rand.Read(noise); err != nil {
		return
	}
	slot := int(noise[0]) % paddingSlots
	if _, err := tx.Exec(ctx, `UPDATE commit_padding SET noise = $1 WHERE slot = $2`, noise[1:], slot); err != nil {
		return
	}
	tx.Commit(context.WithoutCancel(ctx))
}

func (s *Store) whyRefused(ctx context.Context, tx pgx.Tx, hash []byte, now time.Time) error {
	var used, revoked bool
	var expires int64
	err := tx.QueryRow(ctx, `SELECT n.used, b.revoked, b.expires_at FROM permission_numbers n JOIN permission_batches b ON b.id = n.batch_id WHERE n.hash = $1
		UNION ALL SELECT used, FALSE, expires_at FROM feed_numbers WHERE hash = $1 LIMIT 1`, hash).
		Scan(&used, &revoked, &expires)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return database.ErrPermissionUnknown
	case err != nil:
		return fmt.Errorf("spending a permission number: %w", err)
	case revoked:
		return database.ErrPermissionRevoked
	case used:
		return database.ErrPermissionUsed
	case now.Unix() >= expires:
		return database.ErrPermissionExpired
	}
	return database.ErrPermissionUsed
}

// CutBatches implements database.Store.
func (s *Store) CutBatches(ctx context.Context, p database.CutPolicy, build database.BatchBuilder) ([]database.BatchInfo, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("cutting batches: %w", err)
	}
	defer tx.Rollback(ctx)
	// One cutter at a time across replicas; the lock ends with the
	// transaction, so a replica that dies mid-cut releases it.
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext(current_schema() || ':cut'))`); err != nil {
		return nil, fmt.Errorf("cutting batches: taking the cut lock: %w", err)
	}
	type held struct {
		region            string
		uploads           int64
		oldest, coveredTo int64
		lastSeq           int64
	}
	rows, err := tx.Query(ctx, `SELECT u.region, COUNT(*), MIN(u.period_start), COALESCE(MAX(r.covered_to), 0), COALESCE(MAX(r.last_seq), 0)
		FROM uploads u LEFT JOIN region_sequences r ON r.region = u.region
		WHERE u.batch_seq IS NULL AND u.period_start < $1 GROUP BY u.region ORDER BY u.region`, int64(p.Cutoff))
	if err != nil {
		return nil, fmt.Errorf("cutting batches: %w", err)
	}
	pending, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (held, error) {
		var h held
		return h, r.Scan(&h.region, &h.uploads, &h.oldest, &h.coveredTo, &h.lastSeq)
	})
	if err != nil {
		return nil, fmt.Errorf("cutting batches: %w", err)
	}
	var out []database.BatchInfo
	for _, h := range pending {
		if !p.Due(int(h.uploads), pact.Minute(h.oldest)) {
			continue
		}
		// Claim and read in one statement: under READ COMMITTED a separate
		// UPDATE after the SELECT would also claim an upload committed in
		// between, whose tuples the batch would then lack. The claimed
		// upload keeps only its counts: its tuples live on in the batch,
		// and their TOAST chunks, written by the spending transaction,
		// would keep its id (xmin) next to the spent number's.
		seq := h.lastSeq + 1
		rows, err := tx.Query(ctx, `WITH claimed AS (
				SELECT id, tuples, findmy, reverse_from, reverse_to FROM uploads WHERE batch_seq IS NULL AND region = $2 AND period_start < $3 FOR UPDATE
			)
			UPDATE uploads u SET batch_seq = $1, tuples = ''::bytea, findmy = ''::bytea FROM claimed c WHERE u.id = c.id
			RETURNING c.tuples, c.findmy, c.reverse_from, c.reverse_to`, seq, h.region, int64(p.Cutoff))
		if err != nil {
			return nil, fmt.Errorf("cutting batch of %s: %w", h.region, err)
		}
		b, shapes, err := database.ReadUploads(rows, h.region)
		rows.Close()
		if err != nil {
			return nil, err
		}
		if b.Uploads == 0 {
			continue // cleaned up since the listing above
		}
		start, minutes := p.Span(pact.Minute(h.coveredTo), pact.Minute(h.oldest))
		info, data, err := database.BuildBatch(b, shapes, uint64(seq), start, minutes, build)
		if err != nil {
			return nil, err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO batches (region, seq, period_start, period_minutes, uploads, entries, findmy_entries, min_start, sha256, data) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			info.Region, int64(info.Sequence), int64(info.PeriodStart), int64(info.PeriodMinutes), int64(info.Uploads), int64(info.Entries), int64(info.FindMyEntries), int64(info.MinStart), info.SHA256[:], data); err != nil {
			return nil, fmt.Errorf("storing batch %s: %w", info.ID(), err)
		}
		end := int64(info.PeriodStart) + int64(info.PeriodMinutes)
		if _, err := tx.Exec(ctx, `INSERT INTO region_sequences (region, last_seq, covered_to) VALUES ($1, $2, $3) ON CONFLICT (region) DO UPDATE SET last_seq = excluded.last_seq, covered_to = excluded.covered_to`, h.region, int64(info.Sequence), end); err != nil {
			return nil, fmt.Errorf("numbering batch %s: %w", info.ID(), err)
		}
		out = append(out, info)
	}
	// Uploads left held keep the spending transaction's id in their row
	// and TOAST chunks until the cut: rewrite each once now, so the id of
	// this transaction replaces it. A computed value is stored as new
	// chunks (an UPDATE that left the column alone would keep the old
	// ones); the old versions go at the next VACUUM (Cleanup).
	if _, err := tx.Exec(ctx, `UPDATE uploads SET tuples = tuples || ''::bytea, findmy = findmy || ''::bytea, restamped = TRUE WHERE batch_seq IS NULL AND NOT restamped`); err != nil {
		return nil, fmt.Errorf("rewriting held uploads: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("committing batches: %w", err)
	}
	return out, nil
}

// ImportNumbers implements database.Store.
func (s *Store) ImportNumbers(ctx context.Context, sequence uint64, hashes [][]byte, validUntil time.Time) (database.ImportResult, error) {
	var r database.ImportResult
	if sequence > math.MaxInt64 {
		return r, fmt.Errorf("importing number feed %d: %w", sequence, database.ErrFeedStale)
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return r, fmt.Errorf("importing number feed %d: %w", sequence, err)
	}
	defer tx.Rollback(ctx)
	// The row lock of feed_state queues concurrent importers; the second
	// finds the sequence already taken.
	tag, err := tx.Exec(ctx, `UPDATE feed_state SET sequence = $1 WHERE id = 1 AND sequence < $1`, int64(sequence))
	if err != nil {
		return r, fmt.Errorf("importing number feed %d: %w", sequence, err)
	}
	if tag.RowsAffected() != 1 {
		return r, fmt.Errorf("importing number feed %d: %w", sequence, database.ErrFeedStale)
	}
	if _, err := tx.Exec(ctx, `CREATE TEMP TABLE feed_import (hash BYTEA PRIMARY KEY) ON COMMIT DROP`); err != nil {
		return r, fmt.Errorf("importing number feed %d: %w", sequence, err)
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"feed_import"}, []string{"hash"}, pgx.CopyFromSlice(len(hashes), func(i int) ([]any, error) {
		return []any{hashes[i]}, nil
	})); err != nil {
		return r, fmt.Errorf("importing number feed %d: %w", sequence, err)
	}
	tag, err = tx.Exec(ctx, `DELETE FROM feed_numbers f WHERE NOT EXISTS (SELECT 1 FROM feed_import i WHERE i.hash = f.hash)`)
	if err != nil {
		return r, fmt.Errorf("importing number feed %d: %w", sequence, err)
	}
	r.Removed = tag.RowsAffected()
	tag, err = tx.Exec(ctx, `INSERT INTO feed_numbers (hash, expires_at) SELECT hash, $1 FROM feed_import ON CONFLICT (hash) DO NOTHING`, validUntil.Unix())
	if err != nil {
		return r, fmt.Errorf("importing number feed %d: %w", sequence, err)
	}
	r.Added = tag.RowsAffected()
	if _, err := tx.Exec(ctx, `UPDATE feed_numbers SET expires_at = $1 WHERE expires_at <> $1`, validUntil.Unix()); err != nil {
		return r, fmt.Errorf("importing number feed %d: %w", sequence, err)
	}
	if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM feed_numbers`).Scan(&r.Total); err != nil {
		return r, fmt.Errorf("importing number feed %d: %w", sequence, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return r, fmt.Errorf("importing number feed %d: %w", sequence, err)
	}
	return r, nil
}

// ValidPermissionHashes implements database.Store.
func (s *Store) ValidPermissionHashes(ctx context.Context, now time.Time) ([][]byte, error) {
	rows, err := s.pool.Query(ctx, `SELECT n.hash FROM permission_numbers n JOIN permission_batches b ON b.id = n.batch_id
		WHERE NOT b.revoked AND b.expires_at > $1 ORDER BY n.hash`, now.Unix())
	if err != nil {
		return nil, fmt.Errorf("listing valid permission hashes: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	if err != nil {
		return nil, fmt.Errorf("listing valid permission hashes: %w", err)
	}
	return out, nil
}

const batchColumns = `region, seq, period_start, period_minutes, uploads, entries, findmy_entries, min_start, sha256, length(data)`

func scanBatch(row pgx.Row, extra ...any) (database.BatchInfo, error) {
	var b database.BatchInfo
	var seq, period, minutes, uploads, entries, findMyEntries, minStart int64
	var size int32
	var sum []byte
	dest := append([]any{&b.Region, &seq, &period, &minutes, &uploads, &entries, &findMyEntries, &minStart, &sum, &size}, extra...)
	if err := row.Scan(dest...); err != nil {
		return b, err
	}
	b.Sequence, b.PeriodStart, b.MinStart = uint64(seq), pact.Minute(period), pact.Minute(minStart)
	b.PeriodMinutes, b.Uploads, b.Entries, b.FindMyEntries, b.Size = uint32(minutes), uint32(uploads), uint32(entries), uint32(findMyEntries), int(size)
	copy(b.SHA256[:], sum)
	return b, nil
}

// Batches implements database.Store.
func (s *Store) Batches(ctx context.Context, region string, after uint64) ([]database.BatchInfo, error) {
	var rows pgx.Rows
	var err error
	if region == "" {
		rows, err = s.pool.Query(ctx, `SELECT `+batchColumns+` FROM batches WHERE seq > $1 ORDER BY region, seq`, int64(after))
	} else {
		rows, err = s.pool.Query(ctx, `SELECT `+batchColumns+` FROM batches WHERE region = $1 AND seq > $2 ORDER BY seq`, region, int64(after))
	}
	if err != nil {
		return nil, fmt.Errorf("listing batches of %q: %w", region, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (database.BatchInfo, error) { return scanBatch(r) })
	if err != nil {
		return nil, fmt.Errorf("listing batches of %q: %w", region, err)
	}
	return out, nil
}

// Batch implements database.Store.
func (s *Store) Batch(ctx context.Context, region string, seq uint64) (database.BatchInfo, []byte, error) {
	var data []byte
	b, err := scanBatch(s.pool.QueryRow(ctx, `SELECT `+batchColumns+`, data FROM batches WHERE region = $1 AND seq = $2`, region, int64(seq)), &data)
	if errors.Is(err, pgx.ErrNoRows) {
		return b, nil, fmt.Errorf("batch %s: %w", database.FormatBatchID(region, seq), database.ErrNotFound)
	}
	if err != nil {
		return b, nil, fmt.Errorf("reading batch %s: %w", database.FormatBatchID(region, seq), err)
	}
	return b, data, nil
}

// Cleanup implements database.Store.
func (s *Store) Cleanup(ctx context.Context, uploadHorizon, tupleHorizon pact.Minute, now time.Time) (database.CleanupResult, error) {
	var r database.CleanupResult
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return r, fmt.Errorf("cleanup: %w", err)
	}
	defer tx.Rollback(ctx)
	tag, err := tx.Exec(ctx, `DELETE FROM uploads WHERE period_start < $1 OR min_start < $2`, int64(uploadHorizon), int64(tupleHorizon))
	if err != nil {
		return r, fmt.Errorf("cleanup of uploads: %w", err)
	}
	r.Uploads = tag.RowsAffected()
	tag, err = tx.Exec(ctx, `DELETE FROM batches WHERE period_start < $1 OR min_start < $2`, int64(uploadHorizon), int64(tupleHorizon))
	if err != nil {
		return r, fmt.Errorf("cleanup of batches: %w", err)
	}
	r.Batches = tag.RowsAffected()
	tag, err = tx.Exec(ctx, `DELETE FROM permission_numbers WHERE batch_id IN (SELECT id FROM permission_batches WHERE expires_at <= $1)`, now.Unix())
	if err != nil {
		return r, fmt.Errorf("cleanup of expired permission numbers: %w", err)
	}
	r.PermissionNumbers = tag.RowsAffected()
	tag, err = tx.Exec(ctx, `DELETE FROM feed_numbers WHERE expires_at <= $1`, now.Unix())
	if err != nil {
		return r, fmt.Errorf("cleanup of expired feed numbers: %w", err)
	}
	r.PermissionNumbers += tag.RowsAffected()
	if err := tx.Commit(ctx); err != nil {
		return r, fmt.Errorf("cleanup: %w", err)
	}
	// Cut and deleted uploads leave dead row versions that still hold their
	// tuples and the spending transaction's id (docs/api.md, "Privacy");
	// autovacuum may take days to reach a quiet table, so remove them now.
	if _, err := s.pool.Exec(ctx, `VACUUM uploads`); err != nil {
		return r, fmt.Errorf("cleanup: vacuuming uploads: %w", err)
	}
	return r, nil
}
