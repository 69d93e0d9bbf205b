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
// --on-exposure hook when a sync finds a new exposure or a new
// reverse-tracing match. It holds days, sources and amounts only: nothing
// that identifies a contact (no chirp, seed, key, minute or place), so
// that a hook forwarding it elsewhere leaks no more than "this device was
// exposed, or may have been a source, on these days".
//
// The two kinds never mix (spec §9.2): Exposed and Days speak of ordinary
// exposures only, so that a hook written for exposures does not take a
// reverse-tracing match for one; PossibleSource, PossibleSourceDays and
// Advice speak of reverse-tracing matches.
type ExposureNotice struct {
	// Exposed is true when Days is not empty.
	Exposed bool        `json:"exposed"`
	Days    []NoticeDay `json:"days"`
	// PossibleSource is true when PossibleSourceDays is not empty: this
	// device was near someone later diagnosed who asked to reach whoever
	// may have infected them.
	PossibleSource     bool        `json:"possible_source"`
	PossibleSourceDays []NoticeDay `json:"possible_source_days"`
	// IndirectDays are the days of indirect contacts, chirps or keys of
	// an exposed person heard from a repeater after they had left (spec
	// §9.1.3), under their own sources: not an exposure, and never in
	// Days.
	IndirectDays []NoticeDay `json:"indirect_days,omitempty"`
	// Advice is web.PossibleSourceTitle when PossibleSource is true.
	Advice string    `json:"advice,omitempty"`
	Found  time.Time `json:"found"`
	// Peak24h is the highest score of a rolling 24 hours, all sources
	// together, and Threshold the owner's notification threshold that it
	// reached (docs/matching.md §8.4); both zero when Days is empty.
	Peak24h   float64 `json:"peak_24h"`
	Threshold float64 `json:"threshold"`
}

// NoticeDay is one UTC day and source of exposure or of reverse-tracing
// matches. For the latter, Score is the same closeness measure, which
// never counts in an exposure score.
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
	for _, d := range n.PossibleSourceDays {
		log.Warn("possible source of an infection (reverse tracing): consider a test", "date", d.Date, "source", d.Source, "minutes", d.Minutes)
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
