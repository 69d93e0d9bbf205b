package web

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/pact-findmy/pact-findmy/pact"
)

// Limits of the settings (docs/dashboard.md).
const (
	MinRSSIFloor     = -127 // weakest reading a controller reports
	MinRSSICeiling   = 0
	MinRetentionDays = pact.MinRetention / pact.MinutesPerDay
	// MaxRetentionDays is PACT's 90 days (spec §5.3): the owner may
	// shorten the retention, never lengthen it.
	MaxRetentionDays = pact.MaxRetention / pact.MinutesPerDay
	MaxServers       = 16
	maxServerName    = 64
	maxRegions       = 64
	// snoozeLimit bounds SnoozeUntil: snoozing for longer than the
	// retention period is switching the node off, which is not a snooze.
	snoozeLimit = 90 * 24 * time.Hour
)

// ValidateSettings checks s against the limits above, relative to now. It
// returns FieldErrors naming every bad field, or nil.
func ValidateSettings(s Settings, now time.Time) error {
	var errs FieldErrors
	add := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	if s.MinRSSI < MinRSSIFloor || s.MinRSSI > MinRSSICeiling {
		add("min_rssi", "Minimum RSSI must be between %d and %d dBm, got %d.", MinRSSIFloor, MinRSSICeiling, s.MinRSSI)
	}
	if s.RetentionDays < MinRetentionDays || s.RetentionDays > MaxRetentionDays {
		add("retention_days", "Retention must be between %d and %d days, got %d.", MinRetentionDays, MaxRetentionDays, s.RetentionDays)
	}
	if err := (pact.ScoreOptions{RxCorrection: s.RxCorrectionDB}).Validate(); err != nil {
		add("rx_correction_db", "Receiver correction must be between %d and %d dB, got %d.", -pact.MaxRxCorrection, pact.MaxRxCorrection, s.RxCorrectionDB)
	}
	if err := pact.ValidateNotifyThreshold(s.NotifyThreshold); err != nil {
		add("notify_threshold", "Notification threshold must be between %v and %v minutes at close range, got %v.", pact.MinNotifyThreshold, pact.MaxNotifyThreshold, s.NotifyThreshold)
	}
	if !s.SnoozeUntil.IsZero() {
		switch {
		case !s.SnoozeUntil.After(now):
			add("snooze_until", "Snooze until must be in the future (now is %s UTC); leave it empty to chirp.", now.UTC().Format("2006-01-02 15:04"))
		case s.SnoozeUntil.Sub(now) > snoozeLimit:
			add("snooze_until", "Snooze at most 90 days ahead.")
		}
	}
	if len(s.Servers) > MaxServers {
		add("servers", "At most %d exposure servers, got %d.", MaxServers, len(s.Servers))
	}
	names := map[string]bool{}
	for i, srv := range s.Servers {
		if msg := checkServer(srv); msg != "" {
			add("servers", "Server %d (%q): %s", i+1, srv.Name, msg)
			continue
		}
		if names[srv.Name] {
			add("servers", "Server %d: the name %q is used twice.", i+1, srv.Name)
		}
		names[srv.Name] = true
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

func checkServer(s Server) string {
	if s.Name == "" || len(s.Name) > maxServerName || strings.IndexFunc(s.Name, func(r rune) bool { return !unicode.IsPrint(r) || unicode.IsSpace(r) }) >= 0 {
		return fmt.Sprintf("the name must be 1 to %d printable characters without spaces.", maxServerName)
	}
	u, err := url.Parse(s.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "the URL must be an http:// or https:// address without user, query or fragment."
	}
	key, err := base64.StdEncoding.DecodeString(s.Key)
	if err != nil || len(key) != ed25519.PublicKeySize {
		return fmt.Sprintf("the key must be the server's Ed25519 public key, %d bytes in standard base64.", ed25519.PublicKeySize)
	}
	if len(s.Regions) > maxRegions {
		return fmt.Sprintf("at most %d regions.", maxRegions)
	}
	for _, r := range s.Regions {
		if r == "" || len(r) > 64 || strings.ContainsAny(r, " \t,") {
			return fmt.Sprintf("region %q is not a region name.", r)
		}
	}
	return ""
}

// snoozeLayout is what <input type="datetime-local"> sends; times are UTC.
const snoozeLayout = "2006-01-02T15:04"

// settingsFromForm reads the settings form. Fields that do not parse are
// reported as FieldErrors; the returned Settings then holds what did.
func settingsFromForm(f url.Values) (Settings, FieldErrors) {
	var s Settings
	var errs FieldErrors
	num := func(field, label string) int {
		v := strings.TrimSpace(f.Get(field))
		n, err := strconv.Atoi(v)
		if err != nil {
			errs = append(errs, &FieldError{Field: field, Message: fmt.Sprintf("%s must be a whole number, got %q.", label, v)})
		}
		return n
	}
	s.MinRSSI = num("min_rssi", "Minimum RSSI")
	s.RetentionDays = num("retention_days", "Retention")
	s.RxCorrectionDB = num("rx_correction_db", "Receiver correction")
	s.NotifyThreshold = decimal(f, "notify_threshold", "Notification threshold", &errs)
	s.LogLocation = f.Get("log_location") == "on"
	if v := strings.TrimSpace(f.Get("snooze_until")); v != "" {
		t, err := time.ParseInLocation(snoozeLayout, v, time.UTC)
		if err != nil {
			errs = append(errs, &FieldError{Field: "snooze_until", Message: fmt.Sprintf("Snooze until must be a date and time like 2026-11-03T18:30, got %q.", v)})
		}
		s.SnoozeUntil = t
	}
	servers, err := parseServers(f.Get("servers"))
	if err != nil {
		errs = append(errs, err)
	}
	s.Servers = servers
	return s, errs
}

// decimal reads a finite decimal number from field, or records why not.
func decimal(f url.Values, field, label string, errs *FieldErrors) float64 {
	v := strings.TrimSpace(f.Get(field))
	t, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(t) || math.IsInf(t, 0) {
		*errs = append(*errs, &FieldError{Field: field, Message: fmt.Sprintf("%s must be a number such as 15 or 7.5, got %q.", label, v)})
		return 0
	}
	return t
}

// parseServers reads one server per line: NAME URL KEY [REGION,REGION...].
func parseServers(text string) ([]Server, *FieldError) {
	var out []Server
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fs := strings.Fields(line)
		if len(fs) != 3 && len(fs) != 4 {
			return out, &FieldError{Field: "servers", Message: fmt.Sprintf("Line %d: want NAME URL KEY [REGION,REGION...], got %d words.", i+1, len(fs))}
		}
		s := Server{Name: fs[0], URL: fs[1], Key: fs[2]}
		if len(fs) == 4 {
			s.Regions = strings.Split(fs[3], ",")
		}
		out = append(out, s)
	}
	return out, nil
}

// formatServers is the inverse of parseServers.
func formatServers(ss []Server) string {
	var b strings.Builder
	for _, s := range ss {
		b.WriteString(s.Name + " " + s.URL + " " + s.Key)
		if len(s.Regions) > 0 {
			b.WriteString(" " + strings.Join(s.Regions, ","))
		}
		b.WriteByte('\n')
	}
	return b.String()
}
