// Package database defines the storage of the exposure database server
// (docs/api.md): permission-number batches of the testing authority,
// uploads, and signed exposure batches. Two backends implement Store:
// sqlitedb (the default, embedded) and postgresdb (for several replicas
// sharing one PostgreSQL); databasetest runs the same suite against both.
//
// Unlinkability is a property of the schema, not of the code that uses it:
// spending a permission number and storing an upload happen in one
// transaction, yet the upload row carries no permission number, hash, batch
// id, address or timestamp finer than the batch period, and its key is
// random, so neither a foreign key nor the row order ties the two together.
// Cutting a batch empties the tuples of the uploads it claims, which then
// keep only their counts and times for retention: the tuples live on in
// the batch, sorted by seed, and nothing written by the spending
// transaction holds them any more.
package database

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/pact-findmy/pact-findmy/internal/batch"
	"github.com/pact-findmy/pact-findmy/pact"
)

// Errors of SpendAndStore: why a permission number was refused. The
// upload is not stored in any of these cases.
var (
	ErrPermissionUnknown = errors.New("permission number is not known")
	ErrPermissionUsed    = errors.New("permission number has already been used")
	ErrPermissionExpired = errors.New("permission number has expired")
	ErrPermissionRevoked = errors.New("permission number has been revoked")
	// ErrNotFound is returned for a batch or permission batch that does not exist.
	ErrNotFound = errors.New("not found")
	// ErrBatchID is wrapped by every error of ParseBatchID, in a *BatchIDError.
	ErrBatchID = errors.New("malformed batch id")
	// ErrProvider is wrapped by every error of ValidProvider.
	ErrProvider = errors.New("invalid provider name")
)

// A BatchIDError names the batch id ParseBatchID refused and its part at
// fault.
type BatchIDError struct {
	ID   string
	Part string // "separator", "region" or "sequence"
	Err  error  // the reason; the region's comes from batch.ValidRegion
}

func (e *BatchIDError) Error() string {
	return fmt.Sprintf("batch id %q: %s: %v", e.ID, e.Part, e.Err)
}

// Unwrap returns ErrBatchID and the reason.
func (e *BatchIDError) Unwrap() []error { return []error{ErrBatchID, e.Err} }

// PermissionBatch is one issue of numbers to one health provider. The
// numbers themselves are never stored, only their keyed hashes.
type PermissionBatch struct {
	ID        int64
	Provider  string
	Issued    int
	Used      int
	Revoked   bool
	IssuedAt  time.Time
	ExpiresAt time.Time
}

// Upload is one accepted upload, as stored.
type Upload struct {
	Region string
	// PeriodStart is the first minute of the batch period in which the
	// upload arrived: the only trace of its arrival time.
	PeriodStart pact.Minute
	Tuples      []pact.Tuple
	// FindMy are the advertised Find My keys of the uploader's devices.
	FindMy []batch.FindMyKey
	// ReverseFrom and ReverseTo, when non-zero, are the date range (as
	// minutes) for which the uploader consented to reverse tracing.
	ReverseFrom, ReverseTo pact.Minute
}

// BatchInfo describes a stored exposure batch.
type BatchInfo struct {
	Region        string
	Sequence      uint64
	PeriodStart   pact.Minute
	PeriodMinutes uint32
	Uploads       uint32
	Entries       uint32
	FindMyEntries uint32
	// MinStart is the earliest tuple start in the batch; cleanup drops a
	// batch whose oldest tuple passes the tuple retention.
	MinStart pact.Minute
	Size     int
	SHA256   [32]byte
}

// ID is the batch's id in URLs and file names: "<region>.<sequence>".
func (b BatchInfo) ID() string { return FormatBatchID(b.Region, b.Sequence) }

// FormatBatchID joins a region and sequence into a batch id.
func FormatBatchID(region string, seq uint64) string {
	return region + "." + strconv.FormatUint(seq, 10)
}

// ParseBatchID splits "<region>.<sequence>".
func ParseBatchID(id string) (string, uint64, error) {
	i := strings.LastIndexByte(id, '.')
	if i < 0 {
		return "", 0, &BatchIDError{ID: id, Part: "separator", Err: errors.New("want <region>.<sequence>")}
	}
	region := id[:i]
	if err := batch.ValidRegion(region); err != nil {
		return "", 0, &BatchIDError{ID: id, Part: "region", Err: err}
	}
	seq, err := strconv.ParseUint(id[i+1:], 10, 64)
	if err != nil || seq == 0 {
		return "", 0, &BatchIDError{ID: id, Part: "sequence", Err: fmt.Errorf("%q is not a positive integer", id[i+1:])}
	}
	return region, seq, nil
}

// BatchBuilder encodes and signs a batch; the store calls it inside the
// transaction that claims the uploads, so a failure leaves them pending.
// b holds the claimed uploads' entries one upload after another, with
// Reverse marked (or nil when no entry is), and b.Uploads their number;
// shapes says how many entries each upload gave, so that the builder can
// add chaff shaped like whole uploads (docs/api.md, "Holding and chaff")
// before it encodes.
type BatchBuilder func(b *batch.Batch, shapes []UploadShape) ([]byte, error)

// UploadShape is how many tuples and Find My keys one claimed upload
// gave a batch, in the order of Batch.Tuples and Batch.FindMy.
type UploadShape struct{ Tuples, FindMy int }

// CutPolicy says which regions CutBatches publishes (docs/api.md,
// "Holding and chaff"): a region's pending uploads of periods before
// Cutoff are held until there are at least MinUploads of them, or until
// the oldest of them arrived in a period that started MaxHold minutes or
// more before Cutoff.
type CutPolicy struct {
	Cutoff        pact.Minute
	PeriodMinutes uint32
	// MinUploads is k; 0 or 1 publishes every region with an upload.
	MinUploads int
	// MaxHold is the longest an upload waits, in minutes; 0 holds none.
	MaxHold pact.Minute
}

// Due reports whether a region holding uploads pending uploads, the
// oldest from the period starting at oldest, is published now.
func (p CutPolicy) Due(uploads int, oldest pact.Minute) bool {
	return uploads >= p.MinUploads || p.MaxHold == 0 || oldest+p.MaxHold <= p.Cutoff
}

// Span returns the period a region's next batch covers: from where its
// last batch's span ended (coveredTo, 0 for none) or, for a region's
// first batch, the period of its oldest held upload, to Cutoff. Batches
// of a region so tile time, and a span says no more than when the batch
// was cut.
func (p CutPolicy) Span(coveredTo, oldest pact.Minute) (start pact.Minute, minutes uint32) {
	start = oldest
	if coveredTo > 0 && coveredTo < p.Cutoff {
		start = coveredTo
	}
	if start >= p.Cutoff {
		return start, p.PeriodMinutes
	}
	return start, uint32(p.Cutoff - start)
}

// ImportResult counts what ImportNumbers changed.
type ImportResult struct {
	Added, Removed, Total int64
}

// ErrFeedStale is an authority feed no newer than the last one imported:
// importing it could bring back numbers revoked since.
var ErrFeedStale = errors.New("number feed is not newer than the last one imported")

// CleanupResult counts what Cleanup deleted.
type CleanupResult struct {
	Uploads, Batches, PermissionNumbers int64
}

// Store is the storage of the server. Implementations are safe for
// concurrent use, including by several processes on one database.
type Store interface {
	// IssuePermissions records a new batch of number hashes for provider
	// and returns its id. Hashes already present make the whole issue fail.
	IssuePermissions(ctx context.Context, provider string, hashes [][]byte, issuedAt, expiresAt time.Time) (int64, error)
	// RevokePermissionBatch makes every unused number of the batch invalid.
	RevokePermissionBatch(ctx context.Context, id int64) error
	// PermissionBatches lists every batch with its counts.
	PermissionBatches(ctx context.Context) ([]PermissionBatch, error)

	// SpendAndStore consumes the number with this hash and stores up, in
	// one transaction: either both happen or neither. Under any
	// concurrency a number is spent at most once.
	SpendAndStore(ctx context.Context, hash []byte, now time.Time, up *Upload) error

	// CutBatches turns the pending uploads of periods before p.Cutoff of
	// every region that p says is due into one batch per region, numbered
	// on from the region's last sequence; the uploads of other regions stay
	// held. Only one caller cuts at a time, across processes.
	CutBatches(ctx context.Context, p CutPolicy, build BatchBuilder) ([]BatchInfo, error)

	// ImportNumbers makes hashes the set of permission-number hashes that
	// the testing authority's feed of this sequence says are valid until
	// validUntil (docs/deploy.md, "Authority and exposure database
	// apart"): new hashes become spendable, hashes no longer listed are
	// forgotten, spent ones stay spent. A sequence at or below the last
	// imported one is refused with ErrFeedStale.
	ImportNumbers(ctx context.Context, sequence uint64, hashes [][]byte, validUntil time.Time) (ImportResult, error)
	// ValidPermissionHashes lists the hashes of the numbers the authority
	// issued that are neither revoked nor expired at now, in byte order:
	// the content of its feed.
	ValidPermissionHashes(ctx context.Context, now time.Time) ([][]byte, error)
	// Batches lists the batches of region with sequence above after, in
	// order; region "" lists every region, ordered by region then sequence.
	Batches(ctx context.Context, region string, after uint64) ([]BatchInfo, error)
	// Batch returns one batch and its bytes.
	Batch(ctx context.Context, region string, seq uint64) (BatchInfo, []byte, error)

	// Cleanup deletes uploads and batches of periods before uploadHorizon,
	// those holding a tuple that starts before tupleHorizon, and the
	// numbers of permission batches that expired before now.
	Cleanup(ctx context.Context, uploadHorizon, tupleHorizon pact.Minute, now time.Time) (CleanupResult, error)

	Close() error
}

// RefusalPaddingBytes is what a backend writes and commits for a refused
// upload, so that its answer waits for the same flush as a stored one's:
// the tuple list of the default bundle (pact.DefaultBundleDays of
// seed-hours, 37 bytes each, after an 8-byte header; docs/protocol.md §6.1).
const RefusalPaddingBytes = 8 + pact.DefaultBundleDays*24*37

// MinStart returns the earliest start among ts and fm, or 0 for none.
func MinStart(ts []pact.Tuple, fm []batch.FindMyKey) pact.Minute {
	m, any := pact.Minute(0), false
	for _, t := range ts {
		if !any || t.Start < m {
			m, any = t.Start, true
		}
	}
	for _, k := range fm {
		if !any || k.Start < m {
			m, any = k.Start, true
		}
	}
	return m
}

// ValidProvider checks a provider name: 1 to 100 printable characters.
func ValidProvider(p string) error {
	if len(p) == 0 || len(p) > 100 {
		return fmt.Errorf("%w: %q: length %d is outside 1..100", ErrProvider, p, len(p))
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%w: %q: control character %U", ErrProvider, p, r)
		}
	}
	return nil
}

// UploadRows is what a backend's query over the uploads of one batch
// yields: (tuples, findmy, reverse_from, reverse_to) per upload, as
// *sql.Rows and pgx.Rows both provide.
type UploadRows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// ReadUploads decodes the stored uploads of one batch of region, for
// CutBatches of either backend, and marks Reverse each tuple and key that
// lies inside its upload's reverse-tracing range (spec §9.2). The caller
// closes rows.
func ReadUploads(rows UploadRows, region string) (*batch.Batch, []UploadShape, error) {
	b := &batch.Batch{Header: batch.Header{Region: region}}
	var shapes []UploadShape
	marked := false
	for rows.Next() {
		var blob, fmBlob []byte
		var from, to int64
		if err := rows.Scan(&blob, &fmBlob, &from, &to); err != nil {
			return nil, nil, fmt.Errorf("cutting batch of %s: %w", region, err)
		}
		ts, err := pact.DecodeTuples(blob)
		if err != nil {
			return nil, nil, fmt.Errorf("cutting batch of %s: stored upload: %w", region, err)
		}
		fm, err := batch.DecodeFindMyList(fmBlob)
		if err != nil {
			return nil, nil, fmt.Errorf("cutting batch of %s: stored upload: %w", region, err)
		}
		shapes = append(shapes, UploadShape{Tuples: len(ts), FindMy: len(fm)})
		r := reverseRange{pact.Minute(from), pact.Minute(to)}
		for _, t := range ts {
			in := r.holds(t.Start, t.End)
			if in && !marked {
				b.Reverse, marked = make([]bool, len(b.Tuples), len(b.Tuples)+len(ts)), true
			}
			b.Tuples = append(b.Tuples, t)
			if marked {
				b.Reverse = append(b.Reverse, in)
			}
		}
		for _, k := range fm {
			k.Reverse = r.holds(k.Start, k.End)
			b.FindMy = append(b.FindMy, k)
		}
		b.Uploads++
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("cutting batch of %s: %w", region, err)
	}
	return b, shapes, nil
}

// reverseRange is an upload's reverse_tracing range, both ends inclusive
// minutes; {0, 0} is an upload without one.
type reverseRange struct{ from, to pact.Minute }

// holds reports whether the window start..end lies inside r: a tuple or
// key is marked for reverse tracing only when every minute of it is
// covered by the uploader's consent.
func (r reverseRange) holds(start, end pact.Minute) bool {
	return r.to > 0 && r.from <= start && end <= r.to
}

// BuildBatch has build encode and sign b as batch seq of its region
// covering the given span, and describes the result. Info.Uploads is the
// real count, for the operator; the batch itself does not publish it.
func BuildBatch(b *batch.Batch, shapes []UploadShape, seq uint64, period pact.Minute, periodMinutes uint32, build BatchBuilder) (BatchInfo, []byte, error) {
	info := BatchInfo{
		Region: b.Region, Sequence: seq, PeriodStart: period,
		PeriodMinutes: periodMinutes, Uploads: b.Uploads, MinStart: MinStart(b.Tuples, b.FindMy),
	}
	b.Sequence, b.PeriodStart, b.PeriodMinutes = seq, period, periodMinutes
	data, err := build(b, shapes)
	if err != nil {
		return info, nil, fmt.Errorf("cutting batch %s: %w", info.ID(), err)
	}
	h, err := batch.ParseHeader(data)
	if err != nil {
		return info, nil, fmt.Errorf("cutting batch %s: builder output: %w", info.ID(), err)
	}
	info.Entries, info.FindMyEntries, info.Size, info.SHA256 = h.Entries, h.FindMyEntries, len(data), sha256.Sum256(data)
	return info, data, nil
}
