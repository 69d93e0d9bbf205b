package node

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/pact-findmy/pact-findmy/internal/devicedb"
	"github.com/pact-findmy/pact-findmy/pact"
	"github.com/pact-findmy/pact-findmy/web"
)

func TestNotifierHookReceivesTheNoticeOnStdin(t *testing.T) {
	out := filepath.Join(t.TempDir(), "notice.json")
	n := ExposureNotice{
		Exposed: true,
		Days:    []NoticeDay{{Date: "2026-11-29", Source: "pact", Minutes: 17, Score: 12.5}},
		Found:   time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC),
	}
	nt := &Notifier{Hook: "cat > " + out}
	if err := nt.Notify(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var got ExposureNotice
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("hook input %q is not the notice: %v", b, err)
	}
	if got.Exposed != n.Exposed || len(got.Days) != 1 || got.Days[0] != n.Days[0] || !got.Found.Equal(n.Found) {
		t.Fatalf("hook got %+v, want %+v", got, n)
	}
}

// TestNotifierKeepsPossibleSourceApart checks the hook's input for a
// reverse-tracing match alone: not an exposure, the days in their own
// list, and the advice of spec §9.2.
func TestNotifierKeepsPossibleSourceApart(t *testing.T) {
	out := filepath.Join(t.TempDir(), "notice.json")
	n := ExposureNotice{
		PossibleSource:     true,
		PossibleSourceDays: []NoticeDay{{Date: "2026-11-20", Source: "pact", Minutes: 9, Score: 4.5}},
		Advice:             web.PossibleSourceTitle,
		Found:              time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC),
	}
	nt := &Notifier{Hook: "cat > " + out}
	if err := nt.Notify(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	if raw["exposed"] != false || raw["days"] != nil || raw["possible_source"] != true || raw["advice"] != web.PossibleSourceTitle {
		t.Errorf("hook input %s: want exposed false, no days, possible_source true and the advice", b)
	}
	if days, _ := raw["possible_source_days"].([]any); len(days) != 1 {
		t.Errorf("hook input %s: want one possible-source day", b)
	}
}

func TestNotifierReportsAFailingHook(t *testing.T) {
	nt := &Notifier{Hook: "exit 3"}
	if err := nt.Notify(context.Background(), ExposureNotice{Exposed: true}); err == nil {
		t.Fatal("a hook exiting 3 was reported as success")
	}
}

// TestNoticeForThreshold checks that the owner is told only when the
// rolling 24-hour score reaches the threshold, and then of the days that
// changed.
func TestNoticeForThreshold(t *testing.T) {
	day := time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)
	days := []web.DaySummary{
		{Day: day, Source: web.SourcePACT, MatchedMinutes: 16, Score: 15, Peak24h: 15},
		{Day: day.AddDate(0, 0, -1), Source: web.SourcePACT, MatchedMinutes: 3, Score: 2, Peak24h: 2},
	}
	changed := []devicedb.DaySource{{Day: pact.MinuteOf(day).Day(), Source: pact.SourcePACT}}
	found := day.Add(30 * time.Hour)
	for _, tc := range []struct {
		name     string
		note     web.Notification
		wantSent bool
	}{
		{"below the threshold nobody is told", web.Notification{Threshold: 15, Peak24h: 14.75}, false},
		{"at the threshold the owner is told", web.Notification{Threshold: 15, Peak24h: 15, Reached: true}, true},
		{"a lower threshold reached", web.Notification{Threshold: 2, Peak24h: 15, Reached: true}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			notice, sent := noticeFor(web.Exposures{Days: days, Notification: tc.note}, changed, found)
			if sent != tc.wantSent {
				t.Fatalf("sent %v, want %v", sent, tc.wantSent)
			}
			if !sent {
				return
			}
			want := NoticeDay{Date: "2026-11-29", Source: "pact", Minutes: 16, Score: 15, Peak24h: 15}
			if len(notice.Days) != 1 || notice.Days[0] != want || notice.Peak24h != tc.note.Peak24h || notice.Threshold != tc.note.Threshold || !notice.Found.Equal(found) {
				t.Fatalf("notice %+v, want the changed day %+v", notice, want)
			}
		})
	}
}

// TestNoticeForIndirect checks that a changed day of indirect contacts,
// heard from a repeater (spec §9.1.3), is told apart in IndirectDays,
// whatever the threshold, and never makes the device exposed.
func TestNoticeForIndirect(t *testing.T) {
	day := time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)
	ex := web.Exposures{
		Days:         []web.DaySummary{{Day: day, Source: web.SourcePACT, MatchedMinutes: 2, Score: 1.5, Peak24h: 1.5}},
		Indirect:     []web.DaySummary{{Day: day, Source: web.SourceRepeater, MatchedMinutes: 3, Score: 1, Peak24h: 1}},
		Notification: web.Notification{Threshold: 15, Peak24h: 1.5},
	}
	for _, tc := range []struct {
		name     string
		changed  []devicedb.DaySource
		wantSent bool
		want     []NoticeDay
	}{
		{"an indirect day changed", []devicedb.DaySource{{Day: pact.MinuteOf(day).Day(), Source: pact.SourceRepeater}}, true,
			[]NoticeDay{{Date: "2026-11-29", Source: "repeater", Minutes: 3, Score: 1, Peak24h: 1}}},
		{"only a direct day below the threshold changed", []devicedb.DaySource{{Day: pact.MinuteOf(day).Day(), Source: pact.SourcePACT}}, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			notice, sent := noticeFor(ex, tc.changed, day.Add(time.Hour))
			if sent != tc.wantSent {
				t.Fatalf("sent %v, want %v", sent, tc.wantSent)
			}
			if notice.Exposed || len(notice.Days) != 0 || !slices.Equal(notice.IndirectDays, tc.want) {
				t.Fatalf("notice %+v, want not exposed, no days, indirect days %+v", notice, tc.want)
			}
		})
	}
}
