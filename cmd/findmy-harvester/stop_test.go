package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pact-findmy/pact-findmy/hci"
	"github.com/pact-findmy/pact-findmy/internal/devicedb"
	"github.com/pact-findmy/pact-findmy/pact"
)

// heldSource delivers its first events, then, like a live adapter with
// nothing more in range, waits until the context is done. When more is
// closed first, it delivers the later events and calls stop at once, as
// if a signal arrived right after they were heard: they can then only
// reach the outputs through the flush that follows the stop.
type heldSource struct {
	times, laterTimes   []time.Time
	events, laterEvents [][]byte
	fed, more           chan struct{}
	stop                func()
}

func (s *heldSource) Reports(ctx context.Context, fn func(*hci.AdvReport) error) error {
	var dec hci.AdvDecoder
	deliver := func(times []time.Time, events [][]byte) error {
		for i, ev := range events {
			if _, err := dec.Decode(ev, times[i], fn); err != nil {
				return err
			}
		}
		return nil
	}
	if err := deliver(s.times, s.events); err != nil {
		return err
	}
	close(s.fed)
	select {
	case <-s.more:
		if err := deliver(s.laterTimes, s.laterEvents); err != nil {
			return err
		}
		s.stop()
	case <-ctx.Done():
	}
	<-ctx.Done()
	return nil
}
func (s *heldSource) Close() error        { return nil }
func (s *heldSource) Stats() []any        { return nil }
func (s *heldSource) FrameErrors() uint64 { return 0 }
func (s *heldSource) Scanning() bool      { return true }
func (s *heldSource) Name() string        { return "held" }

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A stop (SIGINT or SIGTERM cancel the context in main) must write every
// pending sighting and line, and the metrics must count while it runs.
func TestStopFlushesAndMetricsServe(t *testing.T) {
	times, events := knownEvents(t)
	// The frames of the first minute, all within one second, go out with
	// the periodic flush; the last two, a minute later, arrive just
	// before the stop.
	const early = 8
	for i := range early {
		times[i] = knownStart.Add(time.Duration(i) * time.Millisecond)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src := &heldSource{times: times[:early], events: events[:early], laterTimes: times[early:], laterEvents: events[early:],
		fed: make(chan struct{}), more: make(chan struct{}), stop: cancel}
	dbPath := filepath.Join(t.TempDir(), "contacts.db")
	o := outputFlags{db: dbPath, format: "jsonl", minRSSI: -128, batchRows: 1000, metrics: "127.0.0.1:0"}
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	var stdout syncBuffer
	done := make(chan error, 1)
	go func() { done <- harvestFrom(ctx, src, &o, &stdout, log, true) }()
	<-src.fed

	addr := regexp.MustCompile(`serving metrics" addr=(\S+)`).FindStringSubmatch(logs.String())
	if addr == nil {
		t.Fatalf("no metrics address in the log:\n%s", logs.String())
	}
	resp, err := http.Get("http://" + addr[1] + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`findmy_harvester_reports_total{kind="findmy"} 2`,
		`findmy_harvester_reports_total{kind="findmy-invalid"} 1`,
		`findmy_harvester_reports_total{kind="pact"} 1`,
		`findmy_harvester_scanning 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}

	// On a live source the lines reach stdout within about a second,
	// without a stop.
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(stdout.String(), "\n") < 4 {
		if time.Now().After(deadline) {
			t.Fatalf("JSON lines not flushed within 10 s of a live scan:\n%s", stdout.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	close(src.more)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("harvester did not stop within 10 s of the cancel")
	}
	if n := strings.Count(stdout.String(), "\n"); n != 6 {
		t.Errorf("%d JSON lines after the stop, want 6:\n%s", n, stdout.String())
	}
	db, err := devicedb.Open(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var got []string
	if err := db.Sightings(context.Background(), 0, ^pact.Minute(0), func(s pact.Sighting) error {
		got = append(got, string(s.Source))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// The AirTag key in each of its two minutes (merged over its frames)
	// and the chirp.
	slices.Sort(got)
	if strings.Join(got, ",") != "findmy,findmy,pact" {
		t.Errorf("contact log after the stop holds %v, want two findmy rows and one pact row", got)
	}
	if !strings.Contains(logs.String(), "msg=summary") {
		t.Errorf("no summary logged:\n%s", logs.String())
	}
}
