package node

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pact-findmy/pact-findmy/pact"
)

// radio records what a chirper puts on the air; it stands where the
// controller stands (the real controller path is the VM test's).
type radio struct {
	addr    [6]byte
	data    []byte
	on      bool
	fail    error
	history int
}

func (r *radio) Advertise(_ context.Context, addr [6]byte, data []byte) error {
	if r.fail != nil {
		return r.fail
	}
	r.addr, r.data, r.on = addr, append([]byte(nil), data...), true
	r.history++
	return nil
}

func (r *radio) Stop(context.Context) error { r.on = false; return nil }

func TestChirperBroadcastsTheMinutesChirp(t *testing.T) {
	ctx := context.Background()
	start := time.Date(2026, 11, 30, 9, 58, 30, 0, time.UTC)
	clock := &pact.ManualClock{}
	clock.Set(start)
	store := pact.NewMemStore()
	seeds := pact.NewSeedLog(store, pact.SeedLogOptions{Clock: clock})
	r := &radio{}
	c := NewChirper(seeds, r, clock, nil)

	steps := []struct {
		at      time.Time
		snooze  time.Time
		wantOn  bool
		wantErr error
	}{
		{at: start, wantOn: true},
		{at: start.Add(time.Minute), wantOn: true},
		{at: start.Add(2 * time.Minute), wantOn: true}, // a new hour: a new seed
		{at: start.Add(3 * time.Minute), snooze: start.Add(5 * time.Minute), wantOn: false},
		{at: start.Add(5 * time.Minute), wantOn: true},
	}
	for i, s := range steps {
		clock.Set(s.at)
		seeds.Snooze(s.snooze)
		if err := c.Tick(ctx); !errors.Is(err, s.wantErr) {
			t.Fatalf("step %d: Tick = %v, want %v", i, err, s.wantErr)
		}
		if r.on != s.wantOn {
			t.Fatalf("step %d: on the air = %v, want %v", i, r.on, s.wantOn)
		}
		st := c.State()
		if st.Chirping != s.wantOn {
			t.Fatalf("step %d: state chirping = %v, want %v", i, st.Chirping, s.wantOn)
		}
		if !s.wantOn {
			if !st.SnoozedUntil.Equal(s.snooze) {
				t.Fatalf("step %d: snoozed until %v, want %v", i, st.SnoozedUntil, s.snooze)
			}
			continue
		}
		// The frame on the air must be the chirp of this minute under the
		// seed the log stored for this hour, before it was broadcast.
		m := pact.MinuteOf(s.at)
		var seed *pact.Seed
		err := store.Seeds(ctx, m.HourStart(), m, func(rec pact.SeedRecord) error {
			if rec.Hour() == m.HourStart() {
				seed = &rec.Seed
			}
			return nil
		})
		if err != nil || seed == nil {
			t.Fatalf("step %d: no stored seed for hour %v (err %v)", i, m.HourStart(), err)
		}
		chirp, err := pact.ParseAdvert(r.addr, r.data)
		if err != nil {
			t.Fatalf("step %d: the frame on the air does not parse: %v", i, err)
		}
		if want := pact.ChirpAt(seed, m); chirp != want {
			t.Fatalf("step %d: on the air %v, want %v", i, chirp, want)
		}
		if st.Minute != m {
			t.Fatalf("step %d: state minute %v, want %v", i, st.Minute, m)
		}
	}
	if got := c.State().Broadcasts; got != 4 {
		t.Fatalf("broadcasts = %d, want 4", got)
	}
}

func TestChirperCountsAdvertiserFailures(t *testing.T) {
	ctx := context.Background()
	clock := &pact.ManualClock{}
	clock.Set(time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC))
	seeds := pact.NewSeedLog(pact.NewMemStore(), pact.SeedLogOptions{Clock: clock})
	errRadio := errors.New("controller busy")
	r := &radio{}
	c := NewChirper(seeds, r, clock, nil)
	if err := c.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	r.fail = errRadio
	clock.Set(clock.Now().Add(time.Minute))
	if err := c.Tick(ctx); !errors.Is(err, errRadio) {
		t.Fatalf("Tick = %v, want %v", err, errRadio)
	}
	st := c.State()
	if st.Failures != 1 || st.LastError == "" || st.Chirping || r.on {
		t.Fatalf("after a failure: state %+v, on the air %v; want one failure recorded and the old chirp off the air", st, r.on)
	}
}
