package web

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/pact-findmy/pact-findmy/internal/devicedb"
	"github.com/pact-findmy/pact-findmy/pact"
)

// DeviceStats answers the parts of Backend that come from the device
// database: exposures, the contact log, settings and most of the status.
// The node embeds it in its Backend and adds what only it knows (servers,
// chirping, adapter, harvester counters, the share flow).
//
// It reads the aggregates of migration 0005 and the match results, never
// the whole contact log, so every call stays well under the page budget on
// a 90-day log (docs/performance.md).
type DeviceStats struct {
	DB *devicedb.DB
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Defaults are the settings used for keys never saved.
	Defaults Settings
	// MoreMatches read match results stored outside the PACT match table,
	// such as Find My matches; each reports the matches heard in [from, to].
	MoreMatches []MatchReader
}

// MatchReader calls fn for every match heard in [from, to].
type MatchReader func(ctx context.Context, from, to time.Time, fn func(Match) error) error

// DefaultSettings are the settings of a new node: keep everything heard,
// PACT's 90-day retention (spec §5.3), no snooze, no server.
var DefaultSettings = Settings{MinRSSI: MinRSSIFloor, RetentionDays: 90}

// ExposureWindowDays is how far back the exposure status looks: the 21
// days an upload covers (spec §6.2).
const ExposureWindowDays = 21

// ContactLogHours is how many hours the sightings-per-hour chart shows.
const ContactLogHours = 7 * 24

// Keys of the settings table.
const (
	settingMinRSSI   = "min_rssi"
	settingRetention = "retention_days"
	settingSnooze    = "snooze_until"
	settingServers   = "servers"
)

// ErrBadStoredSetting is returned when a stored setting does not parse.
var ErrBadStoredSetting = errors.New("stored setting does not parse")

func (d *DeviceStats) now() time.Time {
	if d.Now != nil {
		return d.Now().UTC()
	}
	return time.Now().UTC()
}

func (d *DeviceStats) defaults() Settings {
	if d.Defaults.RetentionDays == 0 {
		return DefaultSettings
	}
	return d.Defaults
}

// exposureWindow is [00:00 of the day ExposureWindowDays-1 days ago, now].
func exposureWindow(now time.Time) (time.Time, time.Time) {
	return now.Truncate(24*time.Hour).AddDate(0, 0, -(ExposureWindowDays - 1)), now
}

// Matches returns every match heard in [from, to]: PACT matches from the
// device database and those of MoreMatches.
func (d *DeviceStats) Matches(ctx context.Context, from, to time.Time) ([]Match, error) {
	var ms []Match
	err := d.DB.Contacts(ctx, minuteOf(from), minuteOf(to), func(c pact.Contact) error {
		ms = append(ms, Match{
			Heard: c.Heard.Time(), Source: SourcePACT, Contact: hex.EncodeToString(c.Seed[:]), RSSI: int(c.RSSI),
		})
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, read := range d.MoreMatches {
		if err := read(ctx, from, to, func(m Match) error { ms = append(ms, m); return nil }); err != nil {
			return nil, err
		}
	}
	return ms, nil
}

func minuteOf(t time.Time) pact.Minute {
	s := t.Unix() / 60
	return pact.Minute(max(0, min(s, int64(^uint32(0)))))
}

// daySummaries returns the summaries of every day and source in the
// exposure window, without timelines: PACT days from SQLite's own
// aggregation (devicedb.ExposureDays), other sources summarised here.
func (d *DeviceStats) daySummaries(ctx context.Context, now time.Time) ([]DaySummary, error) {
	from, to := exposureWindow(now)
	pactDays, err := d.DB.ExposureDays(ctx, minuteOf(from), minuteOf(to))
	if err != nil {
		return nil, err
	}
	var days []DaySummary
	for _, e := range pactDays {
		days = append(days, DaySummary{
			Day: pact.Minute(e.Day * pact.MinutesPerDay).Time(), Source: SourcePACT,
			MatchedMinutes: e.Minutes, Contacts: e.Contacts, MaxRSSI: int(e.MaxRSSI), Score: e.Score(),
		})
	}
	var more []Match
	for _, read := range d.MoreMatches {
		if err := read(ctx, from, to, func(m Match) error { more = append(more, m); return nil }); err != nil {
			return nil, err
		}
	}
	for _, s := range Summarize(more) {
		s.Timeline = nil
		days = append(days, s)
	}
	sortSummaries(days)
	return days, nil
}

// Exposures implements Backend.
func (d *DeviceStats) Exposures(ctx context.Context, timelineDay time.Time) (Exposures, error) {
	now := d.now()
	days, err := d.daySummaries(ctx, now)
	if err != nil {
		return Exposures{}, fmt.Errorf("web: reading exposures: %w", err)
	}
	ex := Exposures{Now: now, WindowDays: ExposureWindowDays, Days: days}
	ex.TimelineDay = KeepTimeline(days, timelineDay)
	if ex.TimelineDay.IsZero() {
		return ex, nil
	}
	// The timeline of one day comes from that day's match rows only.
	ms, err := d.Matches(ctx, ex.TimelineDay, ex.TimelineDay.Add(24*time.Hour-time.Minute))
	if err != nil {
		return Exposures{}, fmt.Errorf("web: reading the exposures of %s: %w", ex.TimelineDay.Format(time.DateOnly), err)
	}
	for _, s := range Summarize(ms) {
		for i := range ex.Days {
			if ex.Days[i].Day.Equal(s.Day) && ex.Days[i].Source == s.Source && ex.Days[i].ReverseTracing == s.ReverseTracing {
				ex.Days[i].Timeline = s.Timeline
			}
		}
	}
	return ex, nil
}

// Status fills what the database knows of the overview: exposure status,
// days, sightings in the last hour and the snooze; the node adds servers,
// chirping and adapter.
func (d *DeviceStats) Status(ctx context.Context) (Status, error) {
	now := d.now()
	days, err := d.daySummaries(ctx, now)
	if err != nil {
		return Status{}, fmt.Errorf("web: reading status: %w", err)
	}
	lastHour, err := d.DB.CountSightings(ctx, minuteOf(now.Add(-time.Hour))+1, minuteOf(now))
	if err != nil {
		return Status{}, fmt.Errorf("web: reading status: %w", err)
	}
	st, err := d.Settings(ctx)
	if err != nil {
		return Status{}, err
	}
	s := Status{
		Now: now, WindowDays: ExposureWindowDays, Exposed: len(days) > 0, Days: days,
		SightingsLastHour: lastHour, Chirping: true,
	}
	if st.SnoozeUntil.After(now) {
		s.Chirping, s.SnoozedUntil = false, st.SnoozeUntil
	}
	return s, nil
}

// ContactLog implements Backend.
func (d *DeviceStats) ContactLog(ctx context.Context) (ContactLog, error) {
	now := d.now()
	st, err := d.Settings(ctx)
	if err != nil {
		return ContactLog{}, err
	}
	cl := ContactLog{Now: now, RetentionDays: st.RetentionDays, HourWindow: ContactLogHours}
	mode, err := d.DB.ContactLogMode(ctx)
	if err != nil {
		return ContactLog{}, fmt.Errorf("web: reading the contact log: %w", err)
	}
	cl.Mode = string(mode)
	ext, err := d.DB.ContactLogExtent(ctx)
	if err != nil {
		return ContactLog{}, fmt.Errorf("web: reading the contact log: %w", err)
	}
	if ext.Sightings > 0 {
		cl.Sightings = ext.Sightings
		cl.Oldest, cl.Newest = ext.Oldest.Time(), ext.Newest.Time()
		cl.OldestErasedAt = cl.Oldest.AddDate(0, 0, st.RetentionDays)
	}
	end := now.Truncate(time.Hour).Add(time.Hour)
	hours, err := d.DB.SightingsPerHour(ctx, minuteOf(end.Add(-ContactLogHours*time.Hour)), minuteOf(end)-1)
	if err != nil {
		return ContactLog{}, fmt.Errorf("web: reading the contact log: %w", err)
	}
	for _, h := range hours {
		t := h.Hour.Time()
		if n := len(cl.Hours); n == 0 || !cl.Hours[n-1].Hour.Equal(t) {
			cl.Hours = append(cl.Hours, HourCount{Hour: t, BySource: map[string]int64{}})
		}
		cl.Hours[len(cl.Hours)-1].BySource[string(h.Source)] += h.Sightings
	}
	hist, err := d.DB.RSSIHistogram(ctx)
	if err != nil {
		return ContactLog{}, fmt.Errorf("web: reading the contact log: %w", err)
	}
	for _, h := range hist {
		cl.RSSI = append(cl.RSSI, RSSICount{RSSI: int(h.RSSI), Sightings: h.Sightings})
	}
	return cl, nil
}

// Settings implements Backend: stored values over Defaults.
func (d *DeviceStats) Settings(ctx context.Context) (Settings, error) {
	kv, err := d.DB.Settings(ctx)
	if err != nil {
		return Settings{}, fmt.Errorf("web: reading settings: %w", err)
	}
	s := d.defaults()
	bad := func(key string, err error) error {
		return fmt.Errorf("web: setting %s = %q: %w: %w", key, kv[key], ErrBadStoredSetting, err)
	}
	if v, ok := kv[settingMinRSSI]; ok {
		if s.MinRSSI, err = strconv.Atoi(v); err != nil {
			return Settings{}, bad(settingMinRSSI, err)
		}
	}
	if v, ok := kv[settingRetention]; ok {
		if s.RetentionDays, err = strconv.Atoi(v); err != nil {
			return Settings{}, bad(settingRetention, err)
		}
	}
	if v, ok := kv[settingSnooze]; ok {
		s.SnoozeUntil = time.Time{}
		if v != "" {
			if s.SnoozeUntil, err = time.Parse(time.RFC3339, v); err != nil {
				return Settings{}, bad(settingSnooze, err)
			}
		}
	}
	if v, ok := kv[settingServers]; ok {
		s.Servers = nil
		if err := json.Unmarshal([]byte(v), &s.Servers); err != nil {
			return Settings{}, bad(settingServers, err)
		}
	}
	return s, nil
}

// SaveSettings implements Backend. It validates again, so that no caller
// can store what the page would refuse, and stores all keys in one
// transaction.
func (d *DeviceStats) SaveSettings(ctx context.Context, s Settings) error {
	if err := ValidateSettings(s, d.now()); err != nil {
		return err
	}
	servers, err := json.Marshal(s.Servers)
	if err != nil {
		return fmt.Errorf("web: encoding servers: %w", err)
	}
	snooze := ""
	if !s.SnoozeUntil.IsZero() {
		snooze = s.SnoozeUntil.UTC().Format(time.RFC3339)
	}
	return d.DB.PutSettings(ctx, map[string]string{
		settingMinRSSI:   strconv.Itoa(s.MinRSSI),
		settingRetention: strconv.Itoa(s.RetentionDays),
		settingSnooze:    snooze,
		settingServers:   string(servers),
	}, d.now())
}
