package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pact-findmy/pact-findmy/internal/devicedb"
	"github.com/pact-findmy/pact-findmy/pact"
)

// TestDeviceStatsKeepsPossibleSourceApart stores ordinary and
// reverse-tracing matches, PACT and Find My, and checks that the
// reverse-tracing ones reach only PossibleSource (spec §9.2): never Days,
// Exposed or an exposure score.
func TestDeviceStatsKeepsPossibleSourceApart(t *testing.T) {
	ctx := context.Background()
	at := func(day, hour int) pact.Minute {
		return pact.MinuteOf(testNow.Truncate(24*time.Hour).AddDate(0, 0, -day).Add(time.Duration(hour) * time.Hour))
	}
	contact := func(heard pact.Minute, b byte, rssi int8) pact.Contact {
		c := pact.Contact{Heard: heard, ChirpMinute: heard, RSSI: rssi, Source: pact.SourcePACT}
		c.Chirp[0], c.Seed[0] = b, b
		return c
	}
	findMyAt := func(heard pact.Minute, reverse bool) devicedb.FindMyMatch {
		return devicedb.FindMyMatch{Heard: heard, Key: [28]byte{byte(heard)}, Evidence: devicedb.EvidenceFindMy, Bits: devicedb.FullKeyBits,
			WindowStart: heard, WindowEnd: heard, RSSI: -58, Batch: "b", Reverse: reverse}
	}
	type want struct {
		days, possible []string // "date source"
		exposed        bool
	}
	for _, tc := range []struct {
		name              string
		ordinary, reverse []pact.Contact
		findMy            []devicedb.FindMyMatch
		want              want
	}{
		{
			name:    "reverse-tracing matches alone: not exposed",
			reverse: []pact.Contact{contact(at(4, 9), 1, -55), contact(at(4, 10), 2, -70)},
			findMy:  []devicedb.FindMyMatch{findMyAt(at(6, 15), true)},
			want:    want{possible: []string{"2026-11-01 pact", "2026-10-30 findmy"}},
		},
		{
			name:     "both kinds on the same day stay apart",
			ordinary: []pact.Contact{contact(at(2, 9), 1, -55)},
			reverse:  []pact.Contact{contact(at(2, 11), 2, -65)},
			findMy:   []devicedb.FindMyMatch{findMyAt(at(2, 12), false), findMyAt(at(2, 13), true)},
			want: want{days: []string{"2026-11-03 pact", "2026-11-03 findmy"}, possible: []string{"2026-11-03 pact", "2026-11-03 findmy"},
				exposed: true},
		},
		{
			name:     "ordinary matches alone",
			ordinary: []pact.Contact{contact(at(1, 9), 1, -55)},
			want:     want{days: []string{"2026-11-04 pact"}, exposed: true},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, err := devicedb.Open(filepath.Join(t.TempDir(), "device.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			err = db.ApplyBatch(ctx, devicedb.AppliedBatch{Server: "s", Region: "CH", Sequence: 1, ID: "CH.1", Applied: testNow}, func(tx *devicedb.BatchTx) error {
				if _, err := tx.AddContacts(tc.ordinary); err != nil {
					return err
				}
				if _, err := tx.AddReverseContacts(tc.reverse); err != nil {
					return err
				}
				_, err := tx.AddFindMyMatches(tc.findMy)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			ds := &DeviceStats{DB: db, Now: func() time.Time { return testNow }, MoreMatches: []MatchReader{
				func(ctx context.Context, from, to time.Time, fn func(Match) error) error {
					return db.FindMyMatches(ctx, pact.MinuteOf(from), pact.MinuteOf(to), func(m devicedb.FindMyMatch) error {
						return fn(Match{Heard: m.Heard.Time(), Source: string(m.Evidence), Contact: m.Key.String(), RSSI: int(m.RSSI), ReverseTracing: m.Reverse})
					})
				},
			}}
			names := func(ds []DaySummary, reverse bool) []string {
				var out []string
				for _, d := range ds {
					if d.ReverseTracing != reverse {
						t.Errorf("%s %s: ReverseTracing %t in the wrong list", d.Day.Format(time.DateOnly), d.Source, d.ReverseTracing)
					}
					out = append(out, d.Day.Format(time.DateOnly)+" "+d.Source)
				}
				return out
			}
			ex, err := ds.Exposures(ctx, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			if got := names(ex.Days, false); strings.Join(got, ",") != strings.Join(tc.want.days, ",") {
				t.Errorf("Exposures.Days %v, want %v", got, tc.want.days)
			}
			if got := names(ex.PossibleSource, true); strings.Join(got, ",") != strings.Join(tc.want.possible, ",") {
				t.Errorf("Exposures.PossibleSource %v, want %v", got, tc.want.possible)
			}
			// The ordinary score is that of the ordinary rows alone.
			for _, d := range ex.Days {
				if d.Source == SourcePACT && d.MatchedMinutes != len(tc.ordinary) {
					t.Errorf("ordinary PACT day %+v counts %d minutes, want %d", d, d.MatchedMinutes, len(tc.ordinary))
				}
			}
			// Without an ordinary day, the timeline shows the newest
			// reverse-tracing day.
			if len(ex.Days) == 0 && len(ex.PossibleSource) > 0 {
				if !ex.TimelineDay.Equal(ex.PossibleSource[0].Day) || len(ex.PossibleSource[0].Timeline) == 0 {
					t.Errorf("timeline day %v with timeline %v, want %v's", ex.TimelineDay, ex.PossibleSource[0].Timeline, ex.PossibleSource[0].Day)
				}
			}
			st, err := ds.Status(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if st.Exposed != tc.want.exposed || len(st.Days) != len(tc.want.days) || len(st.PossibleSource) != len(tc.want.possible) {
				t.Errorf("status: exposed %t with %d days and %d possible-source days, want %t, %d and %d",
					st.Exposed, len(st.Days), len(st.PossibleSource), tc.want.exposed, len(tc.want.days), len(tc.want.possible))
			}
		})
	}
}

// TestPossibleSourceShownApart checks the pages and the API: the
// reverse-tracing summaries appear in their own block with the words of
// spec §9.2, and never among the exposures.
func TestPossibleSourceShownApart(t *testing.T) {
	be := newTestBackend()
	be.status.Days, be.status.Exposed = nil, false
	be.exposures.Days = nil
	if len(be.status.PossibleSource) == 0 || len(be.exposures.PossibleSource) == 0 {
		t.Fatal("the test backend has no reverse-tracing match")
	}
	h, _ := newTestHandler(t, Config{Backend: be})
	b := newBrowser(t, h)

	overview := b.get("/").Body.String()
	for _, want := range []string{`id="possible-source"`, htmlEscape(PossibleSourceTitle), htmlEscape(statusHeadline(be.status).Title)} {
		if !strings.Contains(overview, want) {
			t.Errorf("overview lacks %q", want)
		}
	}
	if strings.Contains(overview, "status-exposed") {
		t.Error("the overview shows an exposure status for reverse-tracing matches alone")
	}

	exposures := b.get("/exposures").Body.String()
	block := exposures[strings.Index(exposures, `id="possible-source"`):]
	if !strings.Contains(block, htmlEscape(PossibleSourceTitle)) || !strings.Contains(block, "<tbody><tr") {
		t.Errorf("the possible-source block lacks the advice or its table: %s", block)
	}
	if strings.Contains(exposures, `id="days-title"`) {
		t.Error("the exposures page lists days with a match although there are only reverse-tracing ones")
	}

	var st struct {
		Exposed        bool             `json:"exposed"`
		Days           []map[string]any `json:"days"`
		PossibleSource []map[string]any `json:"possible_source"`
		Advice         string           `json:"possible_source_advice"`
	}
	rec := b.get("/api/v1/status")
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil {
		t.Fatal(err)
	}
	if st.Exposed || len(st.Days) != 0 || len(st.PossibleSource) != len(be.status.PossibleSource) || st.Advice != PossibleSourceTitle {
		t.Errorf("GET /api/v1/status: exposed %t, %d days, %d possible-source days, advice %q", st.Exposed, len(st.Days), len(st.PossibleSource), st.Advice)
	}
	var ex struct {
		Days           []map[string]any `json:"days"`
		PossibleSource []map[string]any `json:"possible_source"`
	}
	if err := json.Unmarshal(b.get("/api/v1/exposures").Body.Bytes(), &ex); err != nil {
		t.Fatal(err)
	}
	if len(ex.Days) != 0 || len(ex.PossibleSource) != len(be.exposures.PossibleSource) {
		t.Fatalf("GET /api/v1/exposures: %d days and %d possible-source days", len(ex.Days), len(ex.PossibleSource))
	}
	for _, d := range ex.PossibleSource {
		if d["reverse_tracing"] != true {
			t.Errorf("possible-source day %v lacks reverse_tracing", d)
		}
	}
}

// TestShareFormProposesReverseRange checks the blank share form: the
// reverse-tracing dates are filled in with the proposed range, and the
// consent box is not ticked, so nothing is flagged unless the owner ticks
// it (spec §9.2).
func TestShareFormProposesReverseRange(t *testing.T) {
	h, _ := newTestHandler(t, Config{})
	body := newBrowser(t, h).get("/share").Body.String()
	for _, want := range []string{
		`id="reverse_from" name="reverse_from" value="2026-10-22"`, // testNow 2026-11-05 less 14 days
		`id="reverse_to" name="reverse_to" value="2026-11-02"`,     // less 3 days
	} {
		if !strings.Contains(body, want) {
			t.Errorf("share form lacks %s", want)
		}
	}
	if strings.Contains(body, `name="reverse_tracing" checked`) {
		t.Error("the reverse-tracing consent is ticked before the owner ticked it")
	}
}

// TestSharePreviewShowsReverseRange checks that the preview shows the
// reverse-tracing range as it will be sent, and only with consent.
func TestSharePreviewShowsReverseRange(t *testing.T) {
	for _, consent := range []bool{true, false} {
		t.Run(fmt.Sprintf("consent %t", consent), func(t *testing.T) {
			h, _ := newTestHandler(t, Config{})
			b := newBrowser(t, h)
			b.get("/share")
			form := url.Values{"csrf": {b.csrf}, "permission_number": {"ABCD-1234"}, "action": {"preview"},
				"reverse_from": {"2026-11-01"}, "reverse_to": {"2026-11-02"}}
			if consent {
				form.Set("reverse_tracing", "on")
			}
			rec := b.post("/share", form)
			if rec.Code != http.StatusOK {
				t.Fatalf("preview: %d", rec.Code)
			}
			body := rec.Body.String()
			shown := strings.Contains(body, `id="reverse-sent"`)
			if shown != consent {
				t.Errorf("the preview shows the range to be flagged: %t, want %t", shown, consent)
			}
			if consent && !strings.Contains(body, "1 Nov 2026 00:00 UTC to 2 Nov 2026 23:59 UTC") {
				t.Error("the preview does not give the range's first and last minute")
			}
		})
	}
}
