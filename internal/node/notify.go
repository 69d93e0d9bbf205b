package node

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os/exec"
	"time"
)

// ExposureNotice is what the node tells its owner, the log and the
// --on-exposure hook when a sync finds a new exposure. It holds days,
// sources and amounts only: nothing that identifies a contact (no chirp,
// seed, key, minute or place), so that a hook forwarding it elsewhere
// leaks no more than "this device was exposed on these days".
type ExposureNotice struct {
	Exposed bool        `json:"exposed"`
	Days    []NoticeDay `json:"days"`
	Found   time.Time   `json:"found"`
	// Peak24h is the highest score of a rolling 24 hours, all sources
	// together, and Threshold the owner's notification threshold that it
	// reached (docs/matching.md §8.4).
	Peak24h   float64 `json:"peak_24h"`
	Threshold float64 `json:"threshold"`
}

// NoticeDay is one UTC day and source of exposure.
type NoticeDay struct {
	Date    string  `json:"date"`
	Source  string  `json:"source"`
	Minutes int     `json:"minutes"`
	Score   float64 `json:"score"`
	Peak24h float64 `json:"peak_24h"`
}

// hookTimeout bounds one run of the --on-exposure command.
const hookTimeout = 30 * time.Second

// Notifier announces new exposures: a log line always, and the owner's
// hook command when one is configured.
type Notifier struct {
	// Hook is run by /bin/sh -c with the notice as JSON on its standard
	// input; empty for none.
	Hook string
	Log  *slog.Logger
}

// Notify announces n. A failing hook is reported but does not undo the
// exposure, which the dashboard shows whatever the hook did.
func (nt *Notifier) Notify(ctx context.Context, n ExposureNotice) error {
	log := nt.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	for _, d := range n.Days {
		log.Warn("new exposure", "date", d.Date, "source", d.Source, "minutes", d.Minutes, "score", d.Score)
	}
	if nt.Hook == "" {
		return nil
	}
	body, err := json.Marshal(n)
	if err != nil {
		return fmt.Errorf("encoding the exposure notice: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, hookTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", nt.Hook)
	cmd.Stdin = bytes.NewReader(body)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("--on-exposure %q: %w (output: %q)", nt.Hook, err, truncate(out.String(), 512))
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
