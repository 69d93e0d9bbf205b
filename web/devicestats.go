package web

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
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
// PACT's 90-day retention (spec §5.3), no snooze, no server, an
// uncalibrated receiver, the close-contact notification threshold
// (docs/matching.md §8.4) and no location logging (spec §5.2).
var DefaultSettings = Settings{
	MinRSSI: MinRSSIFloor, RetentionDays: MaxRetentionDays,
	NotifyThreshold: pact.DefaultNotifyThreshold,
}

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
	settingRxCorr    = "rx_correction_db"
	settingThreshold = "notify_threshold"
	settingLocation  = "log_location"
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
// device database, ordinary and reverse-tracing (Match.ReverseTracing),
// and those of MoreMatches.
func (d *DeviceStats) Matches(ctx context.Context, from, to time.Time) ([]Match, error) {
	var ms []Match
	for _, read := range []struct {
		fn      func(context.Context, pact.Minute, pact.Minute, func(pact.Contact) error) error
		reverse bool
	}{{d.DB.Contacts, false}, {d.DB.ReverseContacts, true}} {
		err := read.fn(ctx, minuteOf(from), minuteOf(to), func(c pact.Contact) error {
			ms = append(ms, Match{
				Heard: c.Heard.Time(), Source: pactSource(c.Source.Indirect()), Contact: hex.EncodeToString(c.Seed[:]), RSSI: int(c.RSSI),
				ReverseTracing: read.reverse,
			})
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	for _, read := range d.MoreMatches {
		if err := read(ctx, from, to, func(m Match) error { ms = append(ms, m); return nil }); err != nil {
			return nil, err
		}
	}
	return ms, nil
}

// pactSource is the source a PACT match is shown under: SourceRepeater
// for a contact heard from a repeater (spec §9.1.3), else SourcePACT.
func pactSource(indirect bool) string {
	if indirect {
		return SourceRepeater
	}
	return SourcePACT
}

func minuteOf(t time.Time) pact.Minute {
	s := t.Unix() / 60
	return pact.Minute(max(0, min(s, int64(^uint32(0)))))
}

// daySummaries returns the summaries of every day and source in the
// exposure window, without timelines, the ordinary ones and the
// reverse-tracing ones apart (spec §9.2), indirect ones among the ordinary
// ones under their own sources (SplitIndirect, spec §9.1.3): PACT days from
// devicedb.SummarizeExposureDays, other sources summarised here; and where
// the ordinary exposure stands against the notification threshold.
func (d *DeviceStats) daySummaries(ctx context.Context, now time.Time) (days, possible []DaySummary, note Notification, err error) {
	st, err := d.Settings(ctx)
	if err != nil {
		return nil, nil, Notification{}, err
	}
	opts := pact.ScoreOptions{RxCorrection: st.RxCorrectionDB}
	from, to := exposureWindow(now)
	// One read of the window's PACT match results (and the day before it,
	// for the rolling window) serves the days and the notification.
	pactObs, err := d.DB.ExposureObservations(ctx, devicedb.ScoreLead(minuteOf(from)), minuteOf(to))
	if err != nil {
		return nil, nil, Notification{}, err
	}
	// Contacts heard from a repeater are summarised and scored apart, and
	// never count toward the notification (spec §9.1.3).
	indirectObs, err := d.DB.IndirectExposureObservations(ctx, devicedb.ScoreLead(minuteOf(from)), minuteOf(to))
	if err != nil {
		return nil, nil, Notification{}, err
	}
	for _, part := range []struct {
		obs      []pact.Observation
		indirect bool
	}{{pactObs, false}, {indirectObs, true}} {
		for _, e := range devicedb.SummarizeExposureDays(part.obs, minuteOf(from), opts) {
			days = append(days, DaySummary{
				Day: pact.Minute(e.Day * pact.MinutesPerDay).Time(), Source: pactSource(part.indirect),
				MatchedMinutes: e.Minutes, Contacts: e.Contacts, MaxRSSI: int(e.MaxRSSI), Score: e.Score, Peak24h: e.Peak24h,
			})
		}
	}
	reverseDays, err := d.DB.ReverseExposureDays(ctx, minuteOf(from), minuteOf(to), opts)
	if err != nil {
		return nil, nil, Notification{}, err
	}
	for _, e := range reverseDays {
		possible = append(possible, DaySummary{
			Day: pact.Minute(e.Day * pact.MinutesPerDay).Time(), Source: pactSource(e.Indirect), ReverseTracing: true,
			MatchedMinutes: e.Minutes, Contacts: e.Contacts, MaxRSSI: int(e.MaxRSSI), Score: e.Score, Peak24h: e.Peak24h,
		})
	}
	var more []Match
	for _, read := range d.MoreMatches {
		if err := read(ctx, from, to, func(m Match) error { more = append(more, m); return nil }); err != nil {
			return nil, nil, Notification{}, err
		}
	}
	for _, s := range Summarize(more, opts) {
		s.Timeline = nil
		if s.ReverseTracing {
			possible = append(possible, s)
		} else {
			days = append(days, s)
		}
	}
	sortSummaries(days)
	sortSummaries(possible)
	return days, possible, notification(pactObs, minuteOf(from), more, st.NotifyThreshold, opts), nil
}

// notification scores PACT observations and the other matches together,
// so that a minute with a person's phone and AirTag counts once
// (docs/matching.md §8.4), and compares the best rolling 24 hours whose
// end lies in the window with the threshold. Reverse-tracing matches say
// nothing about this device's exposure and are left out (spec §9.2), and
// so are indirect ones, heard from a repeater (spec §9.1.3).
func notification(pactObs []pact.Observation, from pact.Minute, more []Match, threshold float64, opts pact.ScoreOptions) Notification {
	obs := slices.Clone(pactObs)
	for i := range more {
		if !more[i].ReverseTracing && !IndirectSource(more[i].Source) {
			obs = append(obs, more[i].observation())
		}
	}
	var inWindow []pact.DayScore
	for _, d := range pact.ScoreDays(obs, opts) {
		if d.Day >= from.Day() {
			inWindow = append(inWindow, d)
		}
	}
	peak, end := pact.PeakScore(inWindow)
	n := Notification{Threshold: threshold, Peak24h: peak, Reached: peak > 0 && peak >= threshold}
	if peak > 0 {
		n.PeakEnd = end.Time()
	}
	return n
}

// Exposures implements Backend.
func (d *DeviceStats) Exposures(ctx context.Context, timelineDay time.Time) (Exposures, error) {
	now := d.now()
	days, possible, note, err := d.daySummaries(ctx, now)
	if err != nil {
		return Exposures{}, fmt.Errorf("web: reading exposures: %w", err)
	}
	days, indirect := SplitIndirect(days)
	ex := Exposures{Now: now, WindowDays: ExposureWindowDays, Days: days, PossibleSource: possible, Indirect: indirect, Notification: note}
	ex.TimelineDay = KeepTimeline(days, possible, timelineDay)
	if ex.TimelineDay.IsZero() {
		return ex, nil
	}
	// The timeline of one day comes from that day's match rows only.
	ms, err := d.Matches(ctx, ex.TimelineDay, ex.TimelineDay.Add(24*time.Hour-time.Minute))
	if err != nil {
		return Exposures{}, fmt.Errorf("web: reading the exposures of %s: %w", ex.TimelineDay.Format(time.DateOnly), err)
	}
	for _, s := range Summarize(ms, pact.ScoreOptions{}) {
		list := ex.Days
		if s.ReverseTracing {
			list = ex.PossibleSource
		}
		for i := range list {
			if list[i].Day.Equal(s.Day) && list[i].Source == s.Source {
				list[i].Timeline = s.Timeline
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
	days, possible, note, err := d.daySummaries(ctx, now)
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
	days, indirect := SplitIndirect(days)
	s := Status{
		Now: now, WindowDays: ExposureWindowDays, Exposed: len(days) > 0, Days: days, PossibleSource: possible, Indirect: indirect,
		SightingsLastHour: lastHour, Chirping: true, Notification: note,
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
	if v, ok := kv[settingRxCorr]; ok {
		if s.RxCorrectionDB, err = strconv.Atoi(v); err != nil {
			return Settings{}, bad(settingRxCorr, err)
		}
	}
	if v, ok := kv[settingThreshold]; ok {
		if s.NotifyThreshold, err = strconv.ParseFloat(v, 64); err != nil {
			return Settings{}, bad(settingThreshold, err)
		}
	}
	if v, ok := kv[settingLocation]; ok {
		if s.LogLocation, err = strconv.ParseBool(v); err != nil {
			return Settings{}, bad(settingLocation, err)
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
		settingRxCorr:    strconv.Itoa(s.RxCorrectionDB),
		settingThreshold: strconv.FormatFloat(s.NotifyThreshold, 'g', -1, 64),
		settingLocation:  strconv.FormatBool(s.LogLocation),
	}, d.now())
}
