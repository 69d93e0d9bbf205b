package web

import (
	"net/url"
	"reflect"
	"testing"
	"time"
)

// FuzzSettingsForm feeds arbitrary form values to the settings parser and
// validator: they must not panic, and settings they accept must survive
// the round trip through the form's own text.
func FuzzSettingsForm(f *testing.F) {
	f.Add("-90", "30", "2026-11-06T08:00", "eu https://x.example AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= eu,us\n", "0", "15", "")
	f.Add("x", "", "tomorrow", "a b", "1e9", "NaN", "on")
	f.Add("-127", "366", "", "# comment\n\n", "-30", "0x10", "yes")
	f.Fuzz(func(t *testing.T, minRSSI, retention, snooze, servers, rxCorrection, threshold, location string) {
		form := url.Values{"min_rssi": {minRSSI}, "retention_days": {retention}, "snooze_until": {snooze}, "servers": {servers},
			"rx_correction_db": {rxCorrection}, "notify_threshold": {threshold}, "log_location": {location}}
		s, errs := settingsFromForm(form)
		if len(errs) > 0 {
			for _, e := range errs {
				if e.Field == "" || e.Message == "" {
					t.Fatalf("field error without field or message: %+v", e)
				}
			}
			return
		}
		if err := ValidateSettings(s, testNow); err != nil {
			if len(byField(err)) == 0 {
				t.Fatalf("validation error names no field: %v", err)
			}
			return
		}
		if s.LogLocation != (location == "on") {
			t.Fatalf("log_location %q read as %v", location, s.LogLocation)
		}
		again, ferr := parseServers(formatServers(s.Servers))
		if ferr != nil || !reflect.DeepEqual(again, s.Servers) {
			t.Fatalf("servers %q do not survive the round trip: %q, %v", s.Servers, again, ferr)
		}
	})
}

// FuzzShareForm: the share form parser never panics, and a request it
// accepts has a valid permission number and hour-aligned exclusions.
func FuzzShareForm(f *testing.F) {
	f.Add("ABCD-1234", "on", "2026-11-01", "2026-11-04", "1762246800")
	f.Add("", "", "x", "", "12")
	f.Fuzz(func(t *testing.T, number, reverse, from, to, exclude string) {
		s := &server{now: func() time.Time { return testNow }}
		form := url.Values{"permission_number": {number}, "reverse_tracing": {reverse},
			"reverse_from": {from}, "reverse_to": {to}, "exclude": {exclude}}
		req, _, err := s.shareRequestFromForm(form)
		if err != nil {
			if len(byField(err)) == 0 {
				t.Fatalf("error names no field: %v", err)
			}
			return
		}
		if !permissionNumberPattern.MatchString(req.PermissionNumber) {
			t.Fatalf("accepted permission number %q", req.PermissionNumber)
		}
		for _, h := range req.ExcludeHours {
			if h.Unix()%3600 != 0 {
				t.Fatalf("accepted excluded hour %v", h)
			}
		}
		if req.ReverseTracing && req.ReverseTo.Before(req.ReverseFrom) {
			t.Fatalf("accepted reverse range %v..%v", req.ReverseFrom, req.ReverseTo)
		}
	})
}
