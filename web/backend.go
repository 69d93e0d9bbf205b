package web

import (
	"context"
	"errors"
	"time"
)

// Backend is what the dashboard reads and asks for. The node implements
// it; web never imports the node. Every method is called once per page or
// API request and must answer within the page budget (100 ms, see
// docs/performance.md), so implementations read kept-up-to-date
// aggregates rather than scanning the contact log. DeviceStats implements
// the parts that come from the device database.
type Backend interface {
	// Status is the overview: exposure status, sync, what the node does.
	Status(ctx context.Context) (Status, error)
	// Exposures lists match results per day and source, newest first, with
	// the per-minute timeline of one day: timelineDay (00:00 UTC), or the
	// newest day with a match when timelineDay is zero. Exposures.Timeline
	// says which day that is.
	Exposures(ctx context.Context, timelineDay time.Time) (Exposures, error)
	// ContactLog describes the contact log: sightings per hour by source,
	// RSSI histogram, oldest entry and when it will be erased.
	ContactLog(ctx context.Context) (ContactLog, error)
	// Harvester reports the scanner's live counters.
	Harvester(ctx context.Context) (Harvester, error)
	// SharePreview shows what a share would upload. It MUST NOT send
	// anything anywhere. Invalid input is reported as a *FieldError.
	SharePreview(ctx context.Context, req ShareRequest) (SharePreview, error)
	// ShareSubmit uploads after the owner confirmed. A refusal by the
	// server is a ShareResult with Accepted false, not an error; an error
	// is for input (*FieldError) or a failure before anything was sent.
	ShareSubmit(ctx context.Context, req ShareRequest) (ShareResult, error)
	// Settings returns the stored settings, defaults filled in.
	Settings(ctx context.Context) (Settings, error)
	// SaveSettings stores settings that web has validated (ValidateSettings).
	// It stores all of them or none.
	SaveSettings(ctx context.Context, s Settings) error
}

// Evidence sources (docs/findmy.md, NODE-DESIGN): how a match was found.
const (
	SourcePACT          = "pact"           // native chirp matched by a seed tuple
	SourceFindMy        = "findmy"         // full Find My key matched inside its slot
	SourceFindMyPartial = "findmy-partial" // Find My key prefix matched inside its slot
	// SourceFindMySeparated is a full secondary key of a separated
	// accessory: near a diagnosed person's item, not the person
	// (docs/findmy.md §7.6).
	SourceFindMySeparated = "findmy-separated"
	// SourceRepeater and SourceFindMyRepeater are indirect: a chirp or
	// key heard from a repeater up to 15 minutes after its owner sent it
	// (spec §9.1). They are reported apart, in Status.Indirect and
	// Exposures.Indirect.
	SourceRepeater       = "repeater"
	SourceFindMyRepeater = "findmy-repeater"
)

// IndirectSource reports whether matches of source s are indirect
// (surface) contacts, heard from a repeater (spec §9.1.3).
func IndirectSource(s string) bool { return s == SourceRepeater || s == SourceFindMyRepeater }

// SplitIndirect separates the summaries of indirect sources from the
// others, keeping their order.
func SplitIndirect(days []DaySummary) (direct, indirect []DaySummary) {
	for _, d := range days {
		if IndirectSource(d.Source) {
			indirect = append(indirect, d)
		} else {
			direct = append(direct, d)
		}
	}
	return direct, indirect
}

// RSSIUnknown is the reading of a sighting without RSSI (pact.RSSIUnknown).
const RSSIUnknown = 127

// Status is the overview page and GET /api/v1/status.
type Status struct {
	Now time.Time `json:"now"`
	// WindowDays is how many days back the exposure status looks (the 21
	// days an upload covers).
	WindowDays int `json:"window_days"`
	// Exposed is true when at least one ordinary direct match (any source
	// but the indirect ones) is stored in the window; reverse-tracing
	// matches never set it (spec §9.2), nor do indirect ones (§9.1.3).
	Exposed bool `json:"exposed"`
	// Days holds one summary per day and source with an ordinary direct
	// match, newest first.
	Days []DaySummary `json:"days"`
	// PossibleSource holds one summary per day and source with a
	// reverse-tracing match, newest first: this device was near someone
	// who was later diagnosed and asked to reach whoever may have infected
	// them (spec §9.2). Apart from Days, never counted as an exposure.
	PossibleSource []DaySummary `json:"possible_source"`
	// Indirect holds, apart from Days, the summaries of ordinary indirect
	// (surface) contacts: chirps or keys of an exposed person heard from a
	// repeater after they had left (spec §9.1.3). They do not set Exposed.
	Indirect []DaySummary   `json:"indirect"`
	Servers  []ServerStatus `json:"servers"`
	// Chirping is true while the node advertises; false when snoozed or
	// without radio.
	Chirping     bool      `json:"chirping"`
	SnoozedUntil time.Time `json:"snoozed_until,omitzero"`
	Adapter      Adapter   `json:"adapter"`
	// SightingsLastHour counts contact log entries heard in the last 60
	// minutes.
	SightingsLastHour int64 `json:"sightings_last_hour"`
	// Notification is where the exposure stands against the owner's
	// notification threshold.
	Notification Notification `json:"notification"`
}

// Notification compares the exposure with the notification threshold
// (docs/matching.md §8.4): the highest score of any rolling 24 hours in
// the exposure window, over PACT and Find My evidence together, a minute
// with both counting once; reverse-tracing matches do not count.
type Notification struct {
	Threshold float64   `json:"threshold"`
	Peak24h   float64   `json:"peak_24h"`
	PeakEnd   time.Time `json:"peak_end,omitzero"` // last minute of the peak window
	// Reached is true when Peak24h is at least Threshold: the node tells
	// its owner.
	Reached bool `json:"reached"`
}

// Adapter is the Bluetooth controller the node uses.
type Adapter struct {
	Name  string `json:"name"`  // e.g. "hci0", "serial /dev/ttyACM0", "none"
	State string `json:"state"` // e.g. "scanning and advertising", "down"
}

// ServerStatus is one exposure server as the syncer last saw it.
type ServerStatus struct {
	Name           string    `json:"name"`
	URL            string    `json:"url"`
	LastSync       time.Time `json:"last_sync,omitzero"`
	LastError      string    `json:"last_error,omitempty"`
	RefusedBatches int       `json:"refused_batches"`
}

// DaySummary condenses one UTC day of matches of one source (spec §8.4).
type DaySummary struct {
	Day    time.Time `json:"day"` // 00:00 UTC of the day
	Source string    `json:"source"`
	// ReverseTracing marks matches of seeds or keys their uploader flagged
	// for reverse tracing (spec §9.2): this device may have been the
	// source of the uploader's infection. Such summaries are listed in
	// PossibleSource, never in Days.
	ReverseTracing bool `json:"reverse_tracing"`
	// MatchedMinutes is the number of distinct minutes heard with a match.
	MatchedMinutes int `json:"matched_minutes"`
	// Contacts is the number of distinct seeds (pact) or keys (findmy).
	Contacts int `json:"contacts"`
	// MaxRSSI is the strongest reading, RSSIUnknown when none had one.
	MaxRSSI int `json:"max_rssi"`
	// Score is the exposure score of the minutes heard this day
	// (docs/matching.md §8.4). For a reverse-tracing summary it is the
	// same sum over its own matches, a measure of closeness that is never
	// added to an exposure score.
	Score float64 `json:"score"`
	// Peak24h is the highest score of a rolling 24 hours ending this day,
	// for this source alone.
	Peak24h float64 `json:"peak_24h"`
	// Timeline holds one entry per matched minute, in order; only for
	// the day Exposures.TimelineDay.
	Timeline []MatchedMinute `json:"timeline,omitempty"`
}

// MatchedMinute is one minute heard with at least one match.
type MatchedMinute struct {
	At       time.Time `json:"at"`
	RSSI     int       `json:"rssi"` // strongest reading, RSSIUnknown if none
	Contacts int       `json:"contacts"`
}

// Exposures is the exposures page and GET /api/v1/exposures.
type Exposures struct {
	Now        time.Time `json:"now"`
	WindowDays int       `json:"window_days"`
	// Days are the ordinary direct exposures, newest day first, then by
	// source.
	Days []DaySummary `json:"days"`
	// PossibleSource are the reverse-tracing matches (spec §9.2), newest
	// day first, then by source: apart from Days and never counted in
	// them.
	PossibleSource []DaySummary `json:"possible_source"`
	// Indirect holds the summaries of ordinary indirect (surface)
	// contacts, heard from a repeater (spec §9.1.3), newest first, without
	// timelines; apart from Days and never counted in them.
	Indirect []DaySummary `json:"indirect"`
	// TimelineDay is the day whose summaries carry a Timeline; zero when
	// there is no match.
	TimelineDay  time.Time    `json:"timeline_day,omitzero"`
	Notification Notification `json:"notification"`
}

// KeepTimeline resolves timelineDay as Backend.Exposures does (zero means
// the newest day of days, or of possible when days is empty) and drops the
// timelines of every other day of both.
func KeepTimeline(days, possible []DaySummary, timelineDay time.Time) time.Time {
	if timelineDay.IsZero() {
		switch {
		case len(days) > 0:
			timelineDay = days[0].Day
		case len(possible) > 0:
			timelineDay = possible[0].Day
		}
	}
	for _, ds := range [][]DaySummary{days, possible} {
		for i := range ds {
			if !ds[i].Day.Equal(timelineDay) {
				ds[i].Timeline = nil
			}
		}
	}
	return timelineDay
}

// ContactLog is the contact log page and GET /api/v1/contacts.
type ContactLog struct {
	Now           time.Time `json:"now"`
	RetentionDays int       `json:"retention_days"`
	Sightings     int64     `json:"sightings"`
	Oldest        time.Time `json:"oldest,omitzero"`
	Newest        time.Time `json:"newest,omitzero"`
	// OldestErasedAt is when retention erases the oldest entry.
	OldestErasedAt time.Time `json:"oldest_erased_at,omitzero"`
	// Hours covers the last HourWindow hours, oldest first, one entry per
	// hour with at least one sighting.
	HourWindow int         `json:"hour_window"`
	Hours      []HourCount `json:"hours"`
	// RSSI holds the number of sightings per reading, weakest first;
	// RSSIUnknown counts sightings without a reading. A hidden log's
	// sightings are not in it: their RSSI is sealed.
	RSSI []RSSICount `json:"rssi"`
	// Mode is "plain" or "hidden" (spec §9.3): a hidden log keeps no
	// chirps and seals each sighting's RSSI, source and location; Hours
	// then counts its sightings under the source "sealed".
	Mode string `json:"mode"`
}

// HourCount is the sightings of one hour by source.
type HourCount struct {
	Hour     time.Time        `json:"hour"`
	BySource map[string]int64 `json:"by_source"`
}

// RSSICount is the number of sightings with one reading.
type RSSICount struct {
	RSSI      int   `json:"rssi"`
	Sightings int64 `json:"sightings"`
}

// Harvester is the harvester page and GET /api/v1/harvester.
type Harvester struct {
	Now     time.Time `json:"now"`
	Running bool      `json:"running"`
	Adapter Adapter   `json:"adapter"`
	// Kinds holds the frame rate per kind (e.g. "pact", "findmy",
	// "findmy-short", "dult") over the last few seconds, and totals.
	Kinds           []FrameRate `json:"kinds"`
	InvalidKeys     int64       `json:"invalid_keys"`
	MalformedFrames int64       `json:"malformed_frames"`
}

// FrameRate is one kind of frame.
type FrameRate struct {
	Kind      string  `json:"kind"`
	PerSecond float64 `json:"per_second"`
	Total     int64   `json:"total"`
}

// ShareRequest is the diagnosed flow's input (issue 8, spec §6).
type ShareRequest struct {
	PermissionNumber string `json:"permission_number"`
	// ExcludeHours are hours (start, UTC) the owner redacts (spec §6.4).
	ExcludeHours []time.Time `json:"exclude_hours,omitempty"`
	// ReverseTracing is the owner's consent, for [ReverseFrom, ReverseTo].
	ReverseTracing bool      `json:"reverse_tracing"`
	ReverseFrom    time.Time `json:"reverse_from,omitzero"`
	ReverseTo      time.Time `json:"reverse_to,omitzero"`
	// FindMyKeyMaterial is exported key material of the owner's own Find
	// My accessories. Keys are derived on the device; the material itself
	// never leaves it.
	FindMyKeyMaterial string `json:"findmy_key_material,omitempty"`
}

// SharePreview is what a share would upload.
type SharePreview struct {
	// Hours are the hours with a seed in the upload period, oldest first.
	Hours []ShareHour `json:"hours"`
	// FindMyKeys is how many Find My keys the key material yields.
	FindMyKeys  int       `json:"findmy_keys"`
	ReverseFrom time.Time `json:"reverse_from,omitzero"`
	ReverseTo   time.Time `json:"reverse_to,omitzero"`
}

// ShareHour is one hour of the upload period.
type ShareHour struct {
	Hour     time.Time `json:"hour"`
	Excluded bool      `json:"excluded"`
}

// ShareResult is the server's answer to a confirmed share.
type ShareResult struct {
	Accepted bool `json:"accepted"`
	// Answer is the server's answer in words ("accepted: 480 seed-hours").
	Answer string `json:"answer"`
	// Reason says why a refused share was refused (bad or spent number,
	// rate limited, server down); empty when accepted.
	Reason string `json:"reason,omitempty"`
	// Retry is true when trying again may succeed (the seed log is kept).
	Retry      bool `json:"retry"`
	Tuples     int  `json:"tuples"`
	FindMyKeys int  `json:"findmy_keys"`
}

// Settings is the settings page and GET/PUT /api/v1/settings.
type Settings struct {
	// MinRSSI drops sightings weaker than this (dBm) before they are logged.
	MinRSSI int `json:"min_rssi"`
	// RetentionDays is how long seeds and sightings are kept (spec §5.3).
	RetentionDays int `json:"retention_days"`
	// SnoozeUntil stops chirping until then; zero means not snoozed.
	SnoozeUntil time.Time `json:"snooze_until,omitzero"`
	Servers     []Server  `json:"servers"`
	// RxCorrectionDB calibrates this receiver: dB added to every RSSI it
	// reports before the exposure score takes the attenuation
	// (pact.ScoreOptions). An API request without it keeps the stored one.
	RxCorrectionDB int `json:"rx_correction_db"`
	// NotifyThreshold is the rolling 24-hour score at which the owner is
	// told (pact.DefaultNotifyThreshold: 15 minutes within about 2 m). An
	// API request without it keeps the stored one.
	NotifyThreshold float64 `json:"notify_threshold"`
	// LogLocation stores a coarse location with each sighting. Off unless
	// the owner turns it on (spec §5.2). An API request without it keeps
	// the stored one.
	LogLocation bool `json:"log_location"`
}

// Server is one configured exposure server.
type Server struct {
	Name    string   `json:"name"`
	URL     string   `json:"url"`
	Key     string   `json:"key"`               // Ed25519 public key, standard base64
	Regions []string `json:"regions,omitempty"` // empty: all regions
}

// ErrInvalidInput is what every *FieldError wraps.
var ErrInvalidInput = errors.New("invalid input")

// FieldError names a form field and what is wrong with it, in words shown
// next to the field.
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// Unwrap makes errors.Is(err, ErrInvalidInput) true.
func (e *FieldError) Unwrap() error { return ErrInvalidInput }

// FieldErrors is several invalid fields at once.
type FieldErrors []*FieldError

func (es FieldErrors) Error() string {
	s := ""
	for i, e := range es {
		if i > 0 {
			s += "; "
		}
		s += e.Error()
	}
	return s
}

// Unwrap returns the field errors, so errors.As finds each one.
func (es FieldErrors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// byField maps field names to messages for the templates.
func byField(err error) map[string]string {
	out := map[string]string{}
	var fes FieldErrors
	var fe *FieldError
	switch {
	case errors.As(err, &fes):
		for _, e := range fes {
			if _, ok := out[e.Field]; !ok {
				out[e.Field] = e.Message
			}
		}
	case errors.As(err, &fe):
		out[fe.Field] = fe.Message
	}
	return out
}
