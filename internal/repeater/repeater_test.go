package repeater

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pact-findmy/pact-findmy/hci"
	"github.com/pact-findmy/pact-findmy/internal/harvest"
	"github.com/pact-findmy/pact-findmy/pact"
)

func TestConfigBounds(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg     Config
		setting string
	}{
		{"delay under a second", Config{Delay: 500 * time.Millisecond}, "delay"},
		{"delay past the window", Config{Delay: 15 * time.Minute, Repeats: 1}, "delay"},
		{"every under a second", Config{Every: time.Millisecond}, "every"},
		{"no repeats", Config{Repeats: -1}, "repeats"},
		{"too many repeats", Config{Repeats: MaxRepeats + 1, Every: time.Second, Dwell: time.Second}, "repeats"},
		{"schedule past the window", Config{Delay: 5 * time.Minute, Repeats: 11}, "delay + repeats·every"},
		{"dwell too short", Config{Dwell: time.Millisecond}, "dwell"},
		{"dwell longer than every", Config{Every: 2 * time.Second, Dwell: 3 * time.Second}, "dwell"},
		{"held negative", Config{MaxHeld: -1}, "max-held"},
		{"held past the bound", Config{MaxHeld: MaxHeld + 1}, "max-held"},
		{"TX power out of range", Config{TxPower: 21}, "tx-power"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			var ce *ConfigError
			if !errors.Is(err, ErrConfig) || !errors.As(err, &ce) || ce.Setting != tc.setting {
				t.Fatalf("New: %v, want a %q ConfigError", err, tc.setting)
			}
		})
	}
	r, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	c := r.Config()
	if c.Delay != DefaultDelay || c.Every != DefaultEvery || c.Repeats != DefaultRepeats || c.Dwell != DefaultDwell || c.MaxHeld != DefaultMaxHeld || c.TxPower != pact.TxPowerUnknown {
		t.Errorf("defaults %+v", c)
	}
	// The largest schedule the window allows is accepted.
	if _, err := New(Config{Delay: time.Minute, Every: time.Minute, Repeats: 13}); err != nil {
		t.Errorf("1 min delay, 13 repeats a minute apart: %v", err)
	}
}

// TestSchedule follows one chirp through its rebroadcasts: none before
// the delay, then one per Every with the age in whole minutes since it
// was first heard, then it is forgotten.
func TestSchedule(t *testing.T) {
	r, err := New(Config{Delay: 90 * time.Second, Every: time.Minute, Repeats: 3})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 30, 22, 0, 10, 0, time.UTC)
	c := pact.Chirp{7}
	r.Hear(c, pact.FrameChirp, t0)
	r.Hear(c, pact.FrameChirp, t0.Add(20*time.Second)) // the same minute's chirp again
	if e, _, until := r.next(t0.Add(time.Minute)); e != nil || !until.Equal(t0.Add(90*time.Second)) {
		t.Fatalf("before the delay: entry %v, wait until %v", e, until)
	}
	for i, wantAge := range []uint8{1, 2, 3} {
		at := t0.Add(90*time.Second + time.Duration(i)*time.Minute + 200*time.Millisecond)
		e, f, _ := r.next(at)
		if e == nil {
			t.Fatalf("rebroadcast %d: nothing due at %v", i, at)
		}
		want := pact.Frame{Chirp: c, Kind: pact.FrameChirp, TxPower: pact.TxPowerUnknown, Repeated: true, Age: wantAge}
		if f != want {
			t.Errorf("rebroadcast %d: frame %+v, want %+v", i, f, want)
		}
	}
	if e, _, until := r.next(t0.Add(time.Hour)); e != nil || !until.IsZero() {
		t.Errorf("after the last rebroadcast: entry %v, wait until %v", e, until)
	}
	st := r.Stats()
	if st.Held != 0 || st.Heard != 2 || st.Duplicates != 1 || st.DroppedAirtime != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestBounds checks the caps of a busy place: memory (MaxHeld) and
// airtime (one frame per Dwell), each drop counted.
func TestBounds(t *testing.T) {
	r, err := New(Config{Delay: time.Second, Every: 2 * time.Second, Repeats: 2, Dwell: time.Second, MaxHeld: 3})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 30, 22, 0, 0, 0, time.UTC)
	for i := range 5 {
		r.Hear(pact.Chirp{byte(i)}, pact.FrameChirp, t0)
	}
	if st := r.Stats(); st.Held != 3 || st.DroppedMemory != 2 {
		t.Fatalf("held %d, dropped for memory %d; want 3 and 2", st.Held, st.DroppedMemory)
	}
	// All three are due at once, and an Every holds two Dwells: one goes
	// on the air; if the air stays busy until 1.5 s later, the other two
	// are more than Every-Dwell late and are skipped.
	due := t0.Add(time.Second)
	if e, _, _ := r.next(due); e == nil {
		t.Fatal("nothing due")
	}
	if e, _, _ := r.next(due.Add(1500 * time.Millisecond)); e != nil {
		t.Fatalf("a rebroadcast %v late went on the air", 1500*time.Millisecond)
	}
	if st := r.Stats(); st.DroppedAirtime != 2 || st.Held != 3 {
		t.Fatalf("dropped for airtime %d, held %d; want 2 and 3 (their next rebroadcast is still to come)", st.DroppedAirtime, st.Held)
	}
	// A repeated frame heard is never repeated again.
	r.HearResult(&harvest.Result{Kind: harvest.KindRepeated, Sighting: pact.Sighting{Chirp: pact.Chirp{9}}, Time: t0})
	r.HearResult(&harvest.Result{Kind: harvest.KindFindMyInvalid, Sighting: pact.Sighting{Chirp: pact.Chirp{10}}, Time: t0})
	if st := r.Stats(); st.DroppedRepeated != 1 || st.Heard != 5 {
		t.Errorf("stats %+v: want one repeated frame dropped and the invalid key ignored", st)
	}
	reg := prometheus.NewPedanticRegistry()
	if err := r.Register(reg); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	dropped := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "pact_repeater_dropped_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			dropped[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
		}
	}
	if want := map[string]float64{"memory": 2, "airtime": 2, "repeated": 1}; !maps.Equal(dropped, want) {
		t.Errorf("dropped metrics %v, want %v", dropped, want)
	}
}

// recorder is an advertiser that keeps what it was asked to broadcast.
type recorder struct {
	mu     sync.Mutex
	frames []pact.Frame
	addrs  [][6]byte
	errs   []error
	stops  int
}

func (a *recorder) Advertise(_ context.Context, addr [6]byte, data []byte) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	f, err := pact.ParseFrame(data)
	if err == nil {
		err = pact.CheckFrameAddress(addr)
	}
	if err != nil {
		a.errs = append(a.errs, err)
		return nil
	}
	a.frames = append(a.frames, f)
	a.addrs = append(a.addrs, addr)
	return nil
}

func (a *recorder) Stop(context.Context) error {
	a.mu.Lock()
	a.stops++
	a.mu.Unlock()
	return nil
}

// TestRun runs a repeater with second-scale delays: a chirp and a Find My
// key heard once each are broadcast Repeats times each, as repeated
// frames of their kind from a fresh non-resolvable private address every
// time, and advertising stops when nothing is due.
func TestRun(t *testing.T) {
	r, err := New(Config{Delay: time.Second, Every: time.Second, Repeats: 3, Dwell: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	adv := &recorder{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, adv) }()
	now := time.Now()
	chirp, key := pact.Chirp{1, 2, 3}, pact.Chirp{4, 5, 6}
	r.Hear(chirp, pact.FrameChirp, now)
	r.Hear(key, pact.FrameFindMyKey, now)
	deadline := time.Now().Add(10 * time.Second)
	for r.Stats().Broadcasts < 6 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	adv.mu.Lock()
	defer adv.mu.Unlock()
	if len(adv.errs) > 0 {
		t.Fatalf("unparsable broadcasts: %v", adv.errs)
	}
	count := map[pact.FrameKind]int{}
	addrs := map[[6]byte]bool{}
	for i, f := range adv.frames {
		addrs[adv.addrs[i]] = true
		if !f.Repeated || f.Age != 0 || (f.Kind == pact.FrameChirp && f.Chirp != chirp) || (f.Kind == pact.FrameFindMyKey && f.Chirp != key) {
			t.Errorf("frame %d: %+v", i, f)
		}
		count[f.Kind]++
	}
	if count[pact.FrameChirp] != 3 || count[pact.FrameFindMyKey] != 3 || len(adv.frames) != 6 {
		t.Errorf("broadcast %v (%d frames), want 3 of each kind", count, len(adv.frames))
	}
	if len(addrs) != len(adv.frames) {
		t.Errorf("%d addresses for %d frames: every rebroadcast needs a fresh one", len(addrs), len(adv.frames))
	}
	if adv.stops == 0 {
		t.Error("advertising never stopped between schedules")
	}
	if st := r.Stats(); st.Held != 0 || st.DroppedAirtime != 0 || st.Failures != 0 {
		t.Errorf("stats %+v", st)
	}
}

// failing is an advertiser whose controller went away.
type failing struct{ calls int }

func (a *failing) Advertise(context.Context, [6]byte, []byte) error {
	a.calls++
	return fmt.Errorf("hci0: %w", hci.ErrClosed)
}
func (a *failing) Stop(context.Context) error { return nil }

// TestRunEndsWhenTheControllerCloses checks that a repeater whose
// controller is gone stops with that error instead of retrying forever.
func TestRunEndsWhenTheControllerCloses(t *testing.T) {
	r, err := New(Config{Delay: time.Second, Every: time.Second, Repeats: 2, Dwell: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	r.Hear(pact.Chirp{1}, pact.FrameChirp, time.Now().Add(-time.Second))
	adv := &failing{}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.Run(ctx, adv); !errors.Is(err, hci.ErrClosed) {
		t.Fatalf("Run = %v, want %v", err, hci.ErrClosed)
	}
	if adv.calls != 1 || r.Stats().Broadcasts != 0 {
		t.Errorf("%d advertise calls, %d broadcasts; want 1 and 0", adv.calls, r.Stats().Broadcasts)
	}
}
