package devicedb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
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
// §8.4 does, computed by SQLite from exposure_contacts so that the
// dashboard need not read every match row.
type ExposureDay struct {
	Day      uint32 // days since 1970-01-01
	Minutes  int    // distinct minutes heard
	Contacts int    // distinct seeds
	MaxRSSI  int8   // strongest reading; pact.RSSIUnknown if none
	// Pairs counts the distinct (seed, minute heard) pairs by the band of
	// their strongest reading, the terms of the score.
	Near, Medium, Far, Distant, Unknown int
}

// Score is the exposure score (spec §8.4): the weights of all pairs
// summed in ascending order of weight, as pact.SummarizeContacts sums
// them, so both give the same float64.
func (e ExposureDay) Score() float64 {
	var s float64
	for _, t := range []struct {
		n int
		w float64
	}{{e.Distant, pact.WeightDistant}, {e.Far, pact.WeightFar}, {e.Medium + e.Unknown, pact.WeightMedium}, {e.Near, pact.WeightNear}} {
		for range t.n {
			s += t.w
		}
	}
	return s
}

// ExposureDays summarises the match results heard in [from, to] per day,
// newest day first.
func (d *DB) ExposureDays(ctx context.Context, from, to pact.Minute) ([]ExposureDay, error) {
	if pact.WeightUnknown != pact.WeightMedium {
		// Score adds unknown and medium pairs together.
		return nil, errors.New("devicedb: ExposureDays assumes unknown readings weigh as medium ones")
	}
	rows, err := d.db.QueryContext(ctx, `WITH pairs AS (
			SELECT heard, seed, coalesce(max(CASE WHEN rssi <> 127 THEN rssi END), 127) AS rssi
			FROM exposure_contacts WHERE heard BETWEEN ? AND ? GROUP BY heard, seed)
		SELECT heard / 1440, count(DISTINCT heard), count(DISTINCT seed),
			coalesce(max(CASE WHEN rssi <> 127 THEN rssi END), 127),
			sum(rssi <> 127 AND rssi >= ?), sum(rssi < ? AND rssi >= ?), sum(rssi < ? AND rssi >= ?),
			sum(rssi < ?), sum(rssi = 127)
		FROM pairs GROUP BY heard / 1440 ORDER BY heard / 1440 DESC`,
		int64(from), int64(to),
		pact.RSSINear, pact.RSSINear, pact.RSSIMedium, pact.RSSIMedium, pact.RSSIFar, pact.RSSIFar)
	if err != nil {
		return nil, fmt.Errorf("devicedb: summarising contacts %v..%v: %w", from, to, err)
	}
	defer rows.Close()
	var out []ExposureDay
	for rows.Next() {
		var e ExposureDay
		var day, maxRSSI int64
		if err := rows.Scan(&day, &e.Minutes, &e.Contacts, &maxRSSI, &e.Near, &e.Medium, &e.Far, &e.Distant, &e.Unknown); err != nil {
			return nil, fmt.Errorf("devicedb: summarising contacts: %w", err)
		}
		m, err := storedMinute("contact", "heard", day*pact.MinutesPerDay)
		if err != nil {
			return nil, err
		}
		e.Day = uint32(m / pact.MinutesPerDay)
		if e.MaxRSSI, err = storedRSSI("contact", maxRSSI); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("devicedb: summarising contacts %v..%v: %w", from, to, err)
	}
	return out, nil
}
