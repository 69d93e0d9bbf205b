package node

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
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

func TestNotifierReportsAFailingHook(t *testing.T) {
	nt := &Notifier{Hook: "exit 3"}
	if err := nt.Notify(context.Background(), ExposureNotice{Exposed: true}); err == nil {
		t.Fatal("a hook exiting 3 was reported as success")
	}
}
