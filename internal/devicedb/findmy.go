package devicedb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/pact-findmy/pact-findmy/findmy"
	"github.com/pact-findmy/pact-findmy/pact"
)

// Widths of Find My evidence in significant key bits (docs/findmy.md §3.2,
// §7.1).
const (
	// PartialBitsDULT is a DULT frame's prefix: the 46 bits of the random
	// static address below its two forced top bits.
	PartialBitsDULT = 46
	// PartialBitsShort is a short-form Offline Finding frame's prefix: the
	// 46 address bits and the 2 payload bits, all of key bytes 0..5.
	PartialBitsShort = 48
	// FullKeyBits is a whole 28-byte key.
	FullKeyBits = 8 * findmy.KeySize
)

// Evidence names how a Find My match was made; the strings are the
// sources stored and shown per day (docs/findmy.md §7.4).
type Evidence string

// Kinds of Find My evidence.
const (
	// EvidenceFindMy: a full key heard inside its slot.
	EvidenceFindMy Evidence = "findmy"
	// EvidenceFindMyPartial: a key prefix heard inside its slot, reported
	// only under the two-slot rule (docs/findmy.md §7.3).
	EvidenceFindMyPartial Evidence = "findmy-partial"
	// EvidenceFindMyRepeater: a full key heard from a repeater (source
	// findmy-repeater) inside its slot or up to pact.MaxRepeatDelay
	// minutes after it: an indirect contact (spec §9.1.4).
	EvidenceFindMyRepeater Evidence = "findmy-repeater"
)

// Sentinel errors wrapped by the Find My storage methods.
var (
	// ErrInvalidPartial: a partial sighting whose width is neither 46 nor
	// 48 bits, or a stored row that does not read as one.
	ErrInvalidPartial = errors.New("invalid partial Find My sighting")
	// ErrInvalidFindMyMatch: a match row with an unknown evidence, a width
	// that does not fit it, or a window that ends before it starts.
	ErrInvalidFindMyMatch = errors.New("invalid Find My match")
)

// PartialSighting is one key prefix heard in one minute, with the
// strongest RSSI of that minute (docs/findmy.md §3.2).
type PartialSighting struct {
	Minute pact.Minute
	// Prefix holds key bytes 0..5. For a 46-bit prefix the two top bits of
	// byte 0 are not key material; they are stored, and read back, as 0.
	Prefix findmy.Prefix
	// Bits is PartialBitsShort or PartialBitsDULT.
	Bits uint8
	RSSI int8
}

// Canonical returns the prefix with the bits that are not key material
// cleared: the two top bits of byte 0 of a 46-bit prefix.
func (p *PartialSighting) Canonical() findmy.Prefix {
	c := p.Prefix
	if p.Bits == PartialBitsDULT {
		c[0] &= 0x3F
	}
	return c
}

// Validate checks the width.
func (p *PartialSighting) Validate() error {
	if p.Bits != PartialBitsShort && p.Bits != PartialBitsDULT {
		return fmt.Errorf("devicedb: partial sighting %s at minute %d has %d bits, want %d or %d: %w",
			p.Prefix, p.Minute, p.Bits, PartialBitsShort, PartialBitsDULT, ErrInvalidPartial)
	}
	return nil
}

// upsertPartial keeps the stronger RSSI as the contact log does
// (pact.MergeRSSI: 127, unknown, is weaker than any reading).
const upsertPartial = ` ON CONFLICT (minute, prefix, bits) DO UPDATE SET
    rssi = CASE
        WHEN excluded.rssi = 127 THEN findmy_partial.rssi
        WHEN findmy_partial.rssi = 127 THEN excluded.rssi
        ELSE max(findmy_partial.rssi, excluded.rssi) END`

func insertPartialSQL(rows int) string {
	var b strings.Builder
	b.WriteString("INSERT INTO findmy_partial (minute, prefix, bits, rssi) VALUES ")
	for i := range rows {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(?,?,?,?)")
	}
	b.WriteString(upsertPartial)
	return b.String()
}

var insertPartialChunkSQL = insertPartialSQL(rowsPerInsert)

// Retention statements run by DeleteSightingsBefore (spec §5.3): partial
// sightings and Find My match results go with the contact log.
const (
	deletePartialBefore       = `DELETE FROM findmy_partial WHERE minute < ?`
	deleteFindMyMatchesBefore = `DELETE FROM findmy_matches WHERE heard < ?`
)

// AddPartialSightings stores partial sightings in one transaction, merging
// each with a stored row of the same minute, prefix and width by keeping
// the stronger RSSI. Nothing is stored if any row is invalid.
func (d *DB) AddPartialSightings(ctx context.Context, batch []PartialSighting) error {
	if len(batch) == 0 {
		return nil
	}
	for i := range batch {
		if err := batch[i].Validate(); err != nil {
			return fmt.Errorf("devicedb: partial sighting %d of %d: %w", i, len(batch), err)
		}
	}
	total := len(batch)
	err := d.inTx(ctx, func(tx *sql.Tx) error {
		ins := newChunkInserter(ctx, tx)
		defer ins.close()
		args := make([]any, 0, 4*rowsPerInsert)
		for len(batch) > 0 {
			n := min(len(batch), rowsPerInsert)
			args = args[:0]
			for i := range batch[:n] {
				p := &batch[i]
				c := p.Canonical()
				args = append(args, int64(p.Minute), c[:], int64(p.Bits), int64(p.RSSI))
			}
			query := insertPartialChunkSQL
			if n < rowsPerInsert {
				query = insertPartialSQL(n)
			}
			if err := ins.exec(query, n == rowsPerInsert, args); err != nil {
				return err
			}
			batch = batch[n:]
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("devicedb: storing %d partial sightings: %w", total, err)
	}
	return nil
}

// PartialSightings calls fn for every partial sighting heard in [from, to],
// in order of minute.
func (d *DB) PartialSightings(ctx context.Context, from, to pact.Minute, fn func(PartialSighting) error) error {
	rows, err := d.db.QueryContext(ctx,
		`SELECT minute, prefix, bits, rssi FROM findmy_partial WHERE minute BETWEEN ? AND ? ORDER BY minute, prefix, bits`,
		int64(from), int64(to))
	if err != nil {
		return fmt.Errorf("devicedb: reading partial sightings %v..%v: %w", from, to, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			minute, bits, rssi int64
			prefix             []byte
		)
		if err := rows.Scan(&minute, &prefix, &bits, &rssi); err != nil {
			return fmt.Errorf("devicedb: reading a partial sighting: %w", err)
		}
		m, err := storedMinute("partial sighting", "heard", minute)
		if err != nil {
			return err
		}
		r, err := storedRSSI("partial sighting", rssi)
		if err != nil {
			return err
		}
		if len(prefix) != findmy.PrefixSize || (bits != PartialBitsShort && bits != PartialBitsDULT) {
			return fmt.Errorf("devicedb: stored partial sighting at minute %d has a prefix of %d bytes and %d bits, want %d bytes and %d or %d bits: %w",
				minute, len(prefix), bits, findmy.PrefixSize, PartialBitsShort, PartialBitsDULT, ErrInvalidPartial)
		}
		p := PartialSighting{Minute: m, Prefix: findmy.Prefix(prefix), Bits: uint8(bits), RSSI: r}
		p.Prefix = p.Canonical()
		if err := fn(p); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("devicedb: reading partial sightings %v..%v: %w", from, to, err)
	}
	return nil
}

// FindMySightings calls fn for every contact-log sighting of source findmy
// or findmy-repeater (a key heard from a repeater, spec §9.1.4) heard in
// [from, to], in order of minute: the full keys a Find My matcher
// compares (docs/findmy.md §7.2).
//
// A hidden log cannot say which rows are Find My keys: it fails with
// ErrSealedLog, and OpenSightingsOf finds given keys instead.
func (d *DB) FindMySightings(ctx context.Context, from, to pact.Minute, fn func(pact.Sighting) error) error {
	if err := d.refuseHidden(ctx); err != nil {
		return err
	}
	rows, err := d.db.QueryContext(ctx,
		`SELECT minute, chirp, rssi, tx_power, source = ? FROM contacts WHERE minute BETWEEN ? AND ? AND source IN (?, ?) ORDER BY minute, chirp`,
		string(pact.SourceFindMyRepeater), int64(from), int64(to), string(pact.SourceFindMy), string(pact.SourceFindMyRepeater))
	if err != nil {
		return fmt.Errorf("devicedb: reading Find My sightings %v..%v: %w", from, to, err)
	}
	defer rows.Close()
	var chirp []byte
	for rows.Next() {
		var minute, rssi, txPower int64
		var repeated bool
		if err := rows.Scan(&minute, &chirp, &rssi, &txPower, &repeated); err != nil {
			return fmt.Errorf("devicedb: reading a Find My sighting: %w", err)
		}
		m, err := storedMinute("sighting", "heard", minute)
		if err != nil {
			return err
		}
		r, err := storedRSSI("sighting", rssi)
		if err != nil {
			return err
		}
		if len(chirp) != pact.ChirpSize {
			return fmt.Errorf("devicedb: stored sighting at minute %d has a chirp of %d bytes, want %d", minute, len(chirp), pact.ChirpSize)
		}
		tx, err := storedTxPower("sighting", txPower)
		if err != nil {
			return err
		}
		src := pact.SourceFindMy
		if repeated {
			src = pact.SourceFindMyRepeater
		}
		if err := fn(pact.Sighting{Chirp: pact.Chirp(chirp), Minute: m, RSSI: r, TxPower: tx, Source: src}); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("devicedb: reading Find My sightings %v..%v: %w", from, to, err)
	}
	return nil
}

// FindMyMatch is one published Find My key heard in one minute inside its
// slot (docs/findmy.md §7).
type FindMyMatch struct {
	// Heard is the minute of the sighting.
	Heard pact.Minute
	// Key is the published key.
	Key findmy.Key
	// Evidence is EvidenceFindMy or EvidenceFindMyPartial.
	Evidence Evidence
	// Bits is how much of the key was compared: FullKeyBits for
	// EvidenceFindMy, PartialBitsShort or PartialBitsDULT otherwise.
	Bits uint8
	// WindowStart and WindowEnd are the key's published window (its slot),
	// both inclusive.
	WindowStart, WindowEnd pact.Minute
	// RSSI is the strongest reading among the sightings matched.
	RSSI int8
	// Batch is the ID of the exposure batch that published the key.
	Batch string
	// Reverse marks a match of a key its uploader flagged for reverse
	// tracing (spec §9.2): this device may have been the source of the
	// uploader's infection. It is not an exposure and never counts as one.
	Reverse bool
	// Secondary is set for a match of a secondary key, which a separated
	// accessory advertises away from its owner (docs/findmy.md §7.6);
	// only full-key evidence (findmy, findmy-repeater) can be secondary.
	Secondary bool
}

// SourceFindMySeparated is the source of a full match of a secondary key:
// the device was near a diagnosed person's item, away from its owner
// (docs/findmy.md §7.6).
const SourceFindMySeparated pact.Source = "findmy-separated"

// Source is the source the match is counted and shown under: its
// evidence, or SourceFindMySeparated for a secondary key heard directly.
// A key heard from a repeater stays findmy-repeater, secondary or not:
// an indirect contact is reported apart first (spec §9.1.3).
func (m *FindMyMatch) Source() pact.Source {
	if m.Secondary && m.Evidence != EvidenceFindMyRepeater {
		return SourceFindMySeparated
	}
	return pact.Source(m.Evidence)
}

// Validate checks evidence, width and window.
func (m *FindMyMatch) Validate() error {
	ok := false
	switch m.Evidence {
	case EvidenceFindMy, EvidenceFindMyRepeater:
		ok = m.Bits == FullKeyBits
	case EvidenceFindMyPartial:
		ok = m.Bits == PartialBitsShort || m.Bits == PartialBitsDULT
	}
	if !ok {
		return fmt.Errorf("devicedb: Find My match of %s at minute %d: evidence %q with %d bits: %w",
			m.Key, m.Heard, m.Evidence, m.Bits, ErrInvalidFindMyMatch)
	}
	if m.WindowEnd < m.WindowStart {
		return fmt.Errorf("devicedb: Find My match of %s: window %v..%v ends before it starts: %w",
			m.Key, m.WindowStart, m.WindowEnd, ErrInvalidFindMyMatch)
	}
	if m.Secondary && m.Evidence == EvidenceFindMyPartial {
		return fmt.Errorf("devicedb: Find My match of %s at minute %d: a secondary key with evidence %q: %w",
			m.Key, m.Heard, m.Evidence, ErrInvalidFindMyMatch)
	}
	return nil
}

// AddFindMyMatches stores match results in one transaction and returns how
// many were new. A sighting already matched by an earlier batch is kept as
// it was, unless it was stored as a reverse-tracing match and is matched
// now as an ordinary one: it becomes ordinary and counts as new (spec
// §9.2).
func (d *DB) AddFindMyMatches(ctx context.Context, ms []FindMyMatch) (int, error) {
	var added int
	err := d.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		added, err = insertFindMyMatches(ctx, tx, ms, nil)
		return err
	})
	if err != nil {
		return 0, err
	}
	return added, nil
}

// insertFindMyMatches stores match results inside tx and calls onNew, when
// set, for each row that was new or turned from reverse-tracing into
// ordinary. Ordinary matches are stored before reverse-tracing ones, so
// that a minute, key and evidence matched both ways is ordinary.
func insertFindMyMatches(ctx context.Context, tx *sql.Tx, ms []FindMyMatch, onNew func(*FindMyMatch)) (int, error) {
	for i := range ms {
		if err := ms[i].Validate(); err != nil {
			return 0, fmt.Errorf("devicedb: Find My match %d of %d: %w", i, len(ms), err)
		}
	}
	if len(ms) == 0 {
		return 0, nil
	}
	ordered := make([]*FindMyMatch, 0, len(ms))
	for _, reverse := range []bool{false, true} {
		for i := range ms {
			if ms[i].Reverse == reverse {
				ordered = append(ordered, &ms[i])
			}
		}
	}
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO findmy_matches
		(heard, key, evidence, bits, window_start, window_end, rssi, batch, reverse, secondary) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (heard, key, evidence) DO UPDATE SET reverse = 0, bits = excluded.bits,
			window_start = excluded.window_start, window_end = excluded.window_end, rssi = excluded.rssi, batch = excluded.batch,
			secondary = excluded.secondary
		WHERE findmy_matches.reverse = 1 AND excluded.reverse = 0`)
	if err != nil {
		return 0, fmt.Errorf("devicedb: storing %d Find My matches: %w", len(ms), err)
	}
	defer stmt.Close()
	added := 0
	for _, m := range ordered {
		res, err := stmt.ExecContext(ctx, int64(m.Heard), m.Key[:], string(m.Evidence), int64(m.Bits),
			int64(m.WindowStart), int64(m.WindowEnd), int64(m.RSSI), m.Batch, m.Reverse, m.Secondary)
		if err != nil {
			return 0, fmt.Errorf("devicedb: storing Find My match of %s at minute %d: %w", m.Key, m.Heard, err)
		}
		if n, _ := res.RowsAffected(); n > 0 {
			added++
			if onNew != nil {
				onNew(m)
			}
		}
	}
	return added, nil
}

// AddFindMyMatches stores Find My match results inside the batch's
// transaction and returns the days and sources ("findmy",
// "findmy-partial", "findmy-separated") that gained a row, ordinary or
// reverse-tracing (DaySource.Reverse, spec §9.2).
func (t *BatchTx) AddFindMyMatches(ms []FindMyMatch) ([]DaySource, error) {
	seen := map[DaySource]bool{}
	_, err := insertFindMyMatches(t.ctx, t.tx, ms, func(m *FindMyMatch) {
		seen[DaySource{Day: m.Heard.Day(), Source: m.Source(), Reverse: m.Reverse}] = true
	})
	if err != nil {
		return nil, err
	}
	days := slices.Collect(maps.Keys(seen))
	SortDaySources(days)
	return days, nil
}

// FindMyMatches calls fn for every stored Find My match heard in [from,
// to], ordinary and reverse-tracing alike (FindMyMatch.Reverse tells them
// apart), in order of minute heard, key and evidence.
func (d *DB) FindMyMatches(ctx context.Context, from, to pact.Minute, fn func(FindMyMatch) error) error {
	rows, err := d.db.QueryContext(ctx, `SELECT heard, key, evidence, bits, window_start, window_end, rssi, batch, reverse, secondary
		FROM findmy_matches WHERE heard BETWEEN ? AND ? ORDER BY heard, key, evidence`, int64(from), int64(to))
	if err != nil {
		return fmt.Errorf("devicedb: reading Find My matches %v..%v: %w", from, to, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			heard, bits, start, end, rssi int64
			key                           []byte
			evidence, batch               string
			reverse, secondary            bool
		)
		if err := rows.Scan(&heard, &key, &evidence, &bits, &start, &end, &rssi, &batch, &reverse, &secondary); err != nil {
			return fmt.Errorf("devicedb: reading a Find My match: %w", err)
		}
		h, err := storedMinute("Find My match", "heard", heard)
		if err != nil {
			return err
		}
		ws, err := storedMinute("Find My match", "window start", start)
		if err != nil {
			return err
		}
		we, err := storedMinute("Find My match", "window end", end)
		if err != nil {
			return err
		}
		r, err := storedRSSI("Find My match", rssi)
		if err != nil {
			return err
		}
		if len(key) != findmy.KeySize || bits < 0 || bits > FullKeyBits {
			return fmt.Errorf("devicedb: stored Find My match at minute %d has a key of %d bytes and %d bits, want %d bytes: %w",
				heard, len(key), bits, findmy.KeySize, ErrInvalidFindMyMatch)
		}
		m := FindMyMatch{
			Heard: h, Key: findmy.Key(key), Evidence: Evidence(evidence), Bits: uint8(bits),
			WindowStart: ws, WindowEnd: we, RSSI: r, Batch: batch, Reverse: reverse, Secondary: secondary,
		}
		if err := m.Validate(); err != nil {
			return fmt.Errorf("devicedb: stored row: %w", err)
		}
		if err := fn(m); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("devicedb: reading Find My matches %v..%v: %w", from, to, err)
	}
	return nil
}

// FindMyMatchesOnDay returns the Find My matches heard on UTC day day
// (days since 1970-01-01, pact.Minute.Day).
func (d *DB) FindMyMatchesOnDay(ctx context.Context, day uint32) ([]FindMyMatch, error) {
	from := pact.Minute(day * pact.MinutesPerDay)
	var ms []FindMyMatch
	err := d.FindMyMatches(ctx, from, from+pact.MinutesPerDay-1, func(m FindMyMatch) error {
		ms = append(ms, m)
		return nil
	})
	return ms, err
}
