package devicedb

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/pact-findmy/pact-findmy/pact"
)

// HourCount is how many sightings of one source the contact log holds in
// one UTC hour.
type HourCount struct {
	Hour      pact.Minute // first minute of the hour
	Source    pact.Source
	Sightings int64
}

// RSSICount is how many sightings of the contact log have one RSSI
// reading; pact.RSSIUnknown (127) counts those without a reading.
type RSSICount struct {
	RSSI      int8
	Sightings int64
}

// LogExtent describes the contact log as a whole.
type LogExtent struct {
	Sightings int64       // all sightings stored
	Oldest    pact.Minute // minute of the oldest sighting; zero when Sightings is 0
	Newest    pact.Minute // minute of the newest sighting; zero when Sightings is 0
}

// ErrNoSetting is returned by Setting for a key that was never stored.
var ErrNoSetting = errors.New("devicedb: no such setting")

// SightingsPerHour returns the sightings per hour and source for the hours
// that start in [from, to], in order of hour then source. It reads the
// aggregate that migration 0005 keeps up to date, not the contact log.
func (d *DB) SightingsPerHour(ctx context.Context, from, to pact.Minute) ([]HourCount, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT hour, source, sightings FROM contact_hour_counts
		WHERE hour BETWEEN ? AND ? AND sightings > 0 ORDER BY hour, source`, int64(from)/60, int64(to)/60)
	if err != nil {
		return nil, fmt.Errorf("devicedb: reading sightings per hour %v..%v: %w", from, to, err)
	}
	defer rows.Close()
	var out []HourCount
	for rows.Next() {
		var hour, n int64
		var source string
		if err := rows.Scan(&hour, &source, &n); err != nil {
			return nil, fmt.Errorf("devicedb: reading sightings per hour: %w", err)
		}
		m, err := storedMinute("hour count", "hour", hour*60)
		if err != nil {
			return nil, err
		}
		out = append(out, HourCount{Hour: m, Source: pact.Source(source), Sightings: n})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("devicedb: reading sightings per hour %v..%v: %w", from, to, err)
	}
	return out, nil
}

// RSSIHistogram returns the number of sightings per RSSI reading over the
// whole contact log, strongest reading last, from the aggregate that
// migration 0005 keeps up to date.
func (d *DB) RSSIHistogram(ctx context.Context) ([]RSSICount, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT rssi, sightings FROM contact_rssi_counts WHERE sightings > 0 ORDER BY rssi`)
	if err != nil {
		return nil, fmt.Errorf("devicedb: reading the RSSI histogram: %w", err)
	}
	defer rows.Close()
	var out []RSSICount
	for rows.Next() {
		var rssi, n int64
		if err := rows.Scan(&rssi, &n); err != nil {
			return nil, fmt.Errorf("devicedb: reading the RSSI histogram: %w", err)
		}
		r, err := storedRSSI("RSSI count", rssi)
		if err != nil {
			return nil, err
		}
		out = append(out, RSSICount{RSSI: r, Sightings: n})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("devicedb: reading the RSSI histogram: %w", err)
	}
	return out, nil
}

// ContactLogExtent returns the size of the contact log and the minutes of
// its oldest and newest sightings. The count comes from the aggregate; the
// two ends are one step each down the primary key.
func (d *DB) ContactLogExtent(ctx context.Context) (LogExtent, error) {
	var total int64
	// The per-hour counts hold plain and sealed sightings alike; the RSSI
	// histogram only the plain ones (spec §9.3.5).
	if err := d.db.QueryRowContext(ctx, `SELECT coalesce(sum(sightings), 0) FROM contact_hour_counts`).Scan(&total); err != nil {
		return LogExtent{}, fmt.Errorf("devicedb: counting sightings: %w", err)
	}
	if total == 0 {
		return LogExtent{}, nil
	}
	var oldest, newest sql.NullInt64
	if err := d.db.QueryRowContext(ctx, `WITH p(lo, hi) AS (SELECT min(minute), max(minute) FROM contacts),
		s(lo, hi) AS (SELECT min(minute), max(minute) FROM sealed_contacts)
		SELECT min(coalesce(p.lo, s.lo), coalesce(s.lo, p.lo)), max(coalesce(p.hi, s.hi), coalesce(s.hi, p.hi)) FROM p, s`).Scan(&oldest, &newest); err != nil {
		return LogExtent{}, fmt.Errorf("devicedb: reading the extent of the contact log: %w", err)
	}
	if !oldest.Valid || !newest.Valid {
		// The aggregate says there are sightings, the log has none: the
		// aggregate is wrong, which the triggers should make impossible.
		return LogExtent{}, fmt.Errorf("devicedb: sighting counts total %d but the contact log is empty", total)
	}
	o, err := storedMinute("sighting", "oldest", oldest.Int64)
	if err != nil {
		return LogExtent{}, err
	}
	n, err := storedMinute("sighting", "newest", newest.Int64)
	if err != nil {
		return LogExtent{}, err
	}
	return LogExtent{Sightings: total, Oldest: o, Newest: n}, nil
}

// CountSightings returns how many sightings were heard in [from, to]. It
// walks the primary key over that range, so keep the range short (the
// dashboard asks for the last hour).
func (d *DB) CountSightings(ctx context.Context, from, to pact.Minute) (int64, error) {
	var n int64
	if err := d.db.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM contacts WHERE minute BETWEEN ?1 AND ?2) + (SELECT count(*) FROM sealed_contacts WHERE minute BETWEEN ?1 AND ?2)`, int64(from), int64(to)).Scan(&n); err != nil {
		return 0, fmt.Errorf("devicedb: counting sightings %v..%v: %w", from, to, err)
	}
	return n, nil
}

// Setting returns the stored value of key, or ErrNoSetting.
func (d *DB) Setting(ctx context.Context, key string) (string, error) {
	var v string
	err := d.db.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("devicedb: setting %q: %w", key, ErrNoSetting)
	}
	if err != nil {
		return "", fmt.Errorf("devicedb: reading setting %q: %w", key, err)
	}
	return v, nil
}

// Settings returns every stored setting.
func (d *DB) Settings(ctx context.Context) (map[string]string, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT key, value FROM settings`)
	if err != nil {
		return nil, fmt.Errorf("devicedb: reading settings: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, fmt.Errorf("devicedb: reading settings: %w", err)
		}
		out[k] = v
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("devicedb: reading settings: %w", err)
	}
	return out, nil
}

// PutSettings stores every key of values in one transaction, so a page
// that saves several settings saves all of them or none. A key with the
// empty value is stored as such; DeleteSetting removes one.
func (d *DB) PutSettings(ctx context.Context, values map[string]string, now time.Time) error {
	err := d.inTx(ctx, func(tx *sql.Tx) error {
		for k, v := range values {
			if k == "" {
				return errors.New("empty key")
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO settings (key, value, updated) VALUES (?, ?, ?)
				ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated = excluded.updated`, k, v, now.Unix()); err != nil {
				return fmt.Errorf("key %q: %w", k, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("devicedb: storing %d settings: %w", len(values), err)
	}
	return nil
}

// DeleteSetting removes key; removing a key that is not stored is no error.
func (d *DB) DeleteSetting(ctx context.Context, key string) error {
	if _, err := d.db.ExecContext(ctx, `DELETE FROM settings WHERE key = ?`, key); err != nil {
		return fmt.Errorf("devicedb: deleting setting %q: %w", key, err)
	}
	return nil
}

// ExposureDay summarises the PACT match results of one UTC day as spec
// §8.4 does.
type ExposureDay struct {
	Day uint32 // days since 1970-01-01
	// Indirect marks the summary of the contacts heard from a repeater
	// (source repeater), kept apart from the direct ones of the same day
	// (spec §9.1.3).
	Indirect bool
	Minutes  int  // distinct minutes heard
	Contacts int  // distinct seeds
	MaxRSSI  int8 // strongest reading; pact.RSSIUnknown if none
	// Pairs counts the distinct (seed, minute heard) pairs by the band of
	// their strongest reading, the terms of the score.
	Near, Medium, Far, Distant, Unknown int
	// Score, Peak24h and PeakEnd are those of pact.DayScore.
	Score   float64
	Peak24h float64
	PeakEnd pact.Minute
}

// ExposureDays summarises the ordinary match results heard in [from, to]
// per day, newest day first, scored with the receiver calibration opts;
// reverse-tracing matches never count in it (spec §9.2). Contacts heard
// from a repeater are summarised and scored apart (ExposureDay.Indirect,
// spec §9.1.3). The rows of the
// 24 hours before from are read as well, so that the first day's rolling
// peak and scan-gap credits are those of the whole log.
func (d *DB) ExposureDays(ctx context.Context, from, to pact.Minute, opts pact.ScoreOptions) ([]ExposureDay, error) {
	return d.exposureDays(ctx, from, to, opts, false)
}

// ReverseExposureDays summarises the reverse-tracing match results heard
// in [from, to] per day, newest day first, with the same figures as
// ExposureDays (spec §9.2), indirect ones apart as there.
func (d *DB) ReverseExposureDays(ctx context.Context, from, to pact.Minute, opts pact.ScoreOptions) ([]ExposureDay, error) {
	return d.exposureDays(ctx, from, to, opts, true)
}

// exposureDays summarises the direct and the indirect contacts apart,
// each scored on its own (spec §9.1.3), newest day first; a day with both
// has its direct summary first, then its indirect one.
func (d *DB) exposureDays(ctx context.Context, from, to pact.Minute, opts pact.ScoreOptions, reverse bool) ([]ExposureDay, error) {
	direct, err := d.observations(ctx, ScoreLead(from), to, reverse, false)
	if err != nil {
		return nil, err
	}
	indirect, err := d.observations(ctx, ScoreLead(from), to, reverse, true)
	if err != nil {
		return nil, err
	}
	days := SummarizeExposureDays(direct, from, opts)
	for _, e := range SummarizeExposureDays(indirect, from, opts) {
		e.Indirect = true
		days = append(days, e)
	}
	slices.SortStableFunc(days, func(a, b ExposureDay) int {
		if a.Day != b.Day {
			return cmp.Compare(b.Day, a.Day)
		}
		return compareBool(a.Indirect, b.Indirect)
	})
	return days, nil
}

// IndirectExposureObservations returns the ordinary PACT match results
// heard from a repeater in [from, to] (spec §9.1.3), as
// ExposureObservations does for the direct ones.
func (d *DB) IndirectExposureObservations(ctx context.Context, from, to pact.Minute) ([]pact.Observation, error) {
	return d.observations(ctx, from, to, false, true)
}

// ScoreLead is the first minute whose match results a score of the days
// from `from` on depends on: a rolling window (pact.ScoreWindow) back.
func ScoreLead(from pact.Minute) pact.Minute {
	return from - min(from, pact.ScoreWindow-1)
}

// ExposureObservations returns the ordinary direct PACT match results
// heard in [from, to] as inputs of the exposure score (spec §8.4), in the
// order of the primary key; contacts heard from a repeater are left to
// IndirectExposureObservations (spec §9.1.3). It reads four columns, not
// the whole row.
func (d *DB) ExposureObservations(ctx context.Context, from, to pact.Minute) ([]pact.Observation, error) {
	return d.observations(ctx, from, to, false, false)
}

func (d *DB) observations(ctx context.Context, from, to pact.Minute, reverse, indirect bool) ([]pact.Observation, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT heard, seed, rssi, tx_power FROM exposure_contacts
		WHERE heard BETWEEN ? AND ? AND reverse = ? AND (source IN (?, ?)) = ?`,
		int64(from), int64(to), reverse, string(pact.SourceRepeater), string(pact.SourceFindMyRepeater), indirect)
	if err != nil {
		return nil, fmt.Errorf("devicedb: reading contacts %v..%v: %w", from, to, err)
	}
	defer rows.Close()
	var obs []pact.Observation
	var seed []byte
	for rows.Next() {
		var heard, rssi, tx int64
		if err := rows.Scan(&heard, &seed, &rssi, &tx); err != nil {
			return nil, fmt.Errorf("devicedb: reading a contact: %w", err)
		}
		h, err := storedMinute("contact", "heard", heard)
		if err != nil {
			return nil, err
		}
		r, err := storedRSSI("contact", rssi)
		if err != nil {
			return nil, err
		}
		txPower, err := storedTxPower("contact", tx)
		if err != nil {
			return nil, err
		}
		if len(seed) != pact.SeedSize {
			return nil, &RowError{Row: "contact", Column: "seed", Value: int64(len(seed)), Want: fmt.Sprintf("%d bytes", pact.SeedSize)}
		}
		obs = append(obs, pact.Observation{Device: [32]byte(seed), Heard: h, RSSI: r, TxPower: txPower})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("devicedb: reading contacts %v..%v: %w", from, to, err)
	}
	return obs, nil
}

// SummarizeExposureDays summarises PACT observations per day heard from
// `from` on, newest day first; observations before from count only
// toward the scores (rolling peak, scan-gap credit) of later days.
func SummarizeExposureDays(obs []pact.Observation, from pact.Minute, opts pact.ScoreOptions) []ExposureDay {
	type totals struct {
		minutes map[pact.Minute]bool
		seeds   map[[32]byte]bool
		maxRSSI int8
	}
	byDay := map[uint32]*totals{}
	for i := range obs {
		o := &obs[i]
		if o.Heard < from {
			continue
		}
		t := byDay[o.Heard.Day()]
		if t == nil {
			t = &totals{minutes: map[pact.Minute]bool{}, seeds: map[[32]byte]bool{}, maxRSSI: pact.RSSIUnknown}
			byDay[o.Heard.Day()] = t
		}
		t.minutes[o.Heard], t.seeds[o.Device] = true, true
		t.maxRSSI = pact.MergeRSSI(t.maxRSSI, o.RSSI)
	}
	var out []ExposureDay
	for _, sc := range pact.ScoreDays(obs, opts) {
		t := byDay[sc.Day]
		if t == nil {
			continue // a day before from, read for the rolling window only
		}
		out = append(out, ExposureDay{
			Day: sc.Day, Minutes: len(t.minutes), Contacts: len(t.seeds), MaxRSSI: t.maxRSSI,
			Near: sc.Near, Medium: sc.Medium, Far: sc.Far, Distant: sc.Distant, Unknown: sc.Unknown,
			Score: sc.Score, Peak24h: sc.Peak24h, PeakEnd: sc.PeakEnd,
		})
	}
	slices.Reverse(out)
	return out
}
