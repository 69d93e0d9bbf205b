package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
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
	for _, frame := range []int{FrameV1, FrameV2} {
		t.Run(fmt.Sprintf("frame %d", frame), func(t *testing.T) { testChirperBroadcasts(t, frame) })
	}
}

// onAir decodes the frame on the air as a receiver would.
func onAir(t *testing.T, frame int, r *radio) (pact.Chirp, int8) {
	t.Helper()
	if frame == FrameV1 {
		c, err := pact.ParseAdvert(r.addr, r.data)
		if err != nil {
			t.Fatalf("the frame on the air does not parse: %v", err)
		}
		return c, pact.TxPowerUnknown
	}
	if err := pact.CheckFrameAddress(r.addr); err != nil {
		t.Fatalf("version-2 frame sent from %X: %v", r.addr, err)
	}
	f, err := pact.ParseFrame(r.data)
	if err != nil || f.Repeated || f.Kind != pact.FrameChirp {
		t.Fatalf("the frame on the air is %+v, %v; want a chirp", f, err)
	}
	return f.Chirp, f.TxPower
}

func testChirperBroadcasts(t *testing.T, frame int) {
	ctx := context.Background()
	start := time.Date(2026, 11, 30, 9, 58, 30, 0, time.UTC)
	clock := &pact.ManualClock{}
	clock.Set(start)
	store := pact.NewMemStore()
	seeds := pact.NewSeedLog(store, pact.SeedLogOptions{Clock: clock})
	r := &radio{}
	c, err := NewChirper(seeds, r, ChirperOptions{Clock: clock, Frame: frame, TxPower: -9})
	if err != nil {
		t.Fatal(err)
	}
	addrs := map[[6]byte]bool{}

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
		chirp, txPower := onAir(t, frame, r)
		if wantTx := map[int]int8{FrameV1: pact.TxPowerUnknown, FrameV2: -9}[frame]; txPower != wantTx {
			t.Fatalf("step %d: TX power %d, want %d", i, txPower, wantTx)
		}
		if addrs[r.addr] {
			t.Fatalf("step %d: address %X used for an earlier chirp", i, r.addr)
		}
		addrs[r.addr] = true
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
	c, err := NewChirper(seeds, r, ChirperOptions{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
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

func TestNewChirperRefusesFrameVersion(t *testing.T) {
	seeds := pact.NewSeedLog(pact.NewMemStore(), pact.SeedLogOptions{})
	for _, v := range []int{-1, 3} {
		if _, err := NewChirper(seeds, &radio{}, ChirperOptions{Frame: v}); !errors.Is(err, ErrFrameVersion) {
			t.Errorf("frame %d: %v, want ErrFrameVersion", v, err)
		}
	}
}

// The switch offsets are uniform over [-30 s, +30 s): every draw lies
// inside, and each of the six 10-second bins gets its share of 6,000
// draws within a bound a fair draw breaks with probability below 10^-9.
func TestSwitchOffsetUniform(t *testing.T) {
	c, err := NewChirper(nil, &radio{}, ChirperOptions{})
	if err != nil {
		t.Fatal(err)
	}
	const draws, bins = 6000, 6
	var count [bins]int
	for range draws {
		u, err := c.switchOffset()
		if err != nil {
			t.Fatal(err)
		}
		if u < -SwitchSpread/2 || u >= SwitchSpread/2 {
			t.Fatalf("offset %v outside [-30s, 30s)", u)
		}
		count[int((u+SwitchSpread/2)/(SwitchSpread/bins))]++
	}
	// Each bin is Binomial(6000, 1/6): mean 1000, sd 28.9; 6.5 sd.
	for i, n := range count {
		if n < 812 || n > 1188 {
			t.Errorf("bin %d holds %d of %d draws, want 1000 +- 188", i, n, draws)
		}
	}
	if _, err := (&Chirper{opts: ChirperOptions{Rand: bytes.NewReader(nil)}}).switchOffset(); err == nil {
		t.Error("switchOffset from an empty reader succeeded")
	}
}

// nextSwitch schedules the chirp after the one on the air at its minute
// boundary plus the offset, and skips minutes that ended during a stall.
func TestChirperSwitchSchedule(t *testing.T) {
	base := pact.Minute(29_462_400)
	at := func(m pact.Minute, d time.Duration) time.Time { return m.Time().Add(d) }
	tests := []struct {
		name   string
		now    time.Time
		onAir  pact.Minute
		offset time.Duration
		want   pact.Minute
		wantAt time.Time
	}{
		{"early switch", at(base, 5*time.Second), base, -30 * time.Second, base + 1, at(base+1, -30*time.Second)},
		{"late switch", at(base, 5*time.Second), base, 29999 * time.Millisecond, base + 1, at(base+1, 29999*time.Millisecond)},
		{"already switched early", at(base+1, -10*time.Second), base + 1, 0, base + 2, at(base+2, 0)},
		{"stalled for minutes", at(base+5, 10*time.Second), base, 3 * time.Second, base + 5, at(base+5, 3*time.Second)},
	}
	for _, tt := range tests {
		m, when := nextSwitch(tt.now, tt.onAir, tt.offset)
		if m != tt.want || !when.Equal(tt.wantAt) {
			t.Errorf("%s: nextSwitch = %v at %v, want %v at %v", tt.name, m, when, tt.want, tt.wantAt)
		}
	}
}

// TestRadiatedPower checks the TX power a frame carries.
func TestRadiatedPower(t *testing.T) {
	gain := func(g int) *int { return &g }
	tests := []struct {
		selected int8
		known    bool
		gain     *int
		want     int8
	}{
		{0, true, gain(2), 2},
		{-8, true, gain(0), -8},
		{-8, false, gain(0), pact.TxPowerUnknown},
		{4, true, nil, pact.TxPowerUnknown},
		{18, true, gain(6), pact.TxPowerMax},
		{-125, true, gain(-10), pact.TxPowerMin},
	}
	for _, tt := range tests {
		if got := radiatedPower(tt.selected, tt.known, tt.gain); got != tt.want {
			t.Errorf("radiatedPower(%d, %v, %v) = %d, want %d", tt.selected, tt.known, tt.gain, got, tt.want)
		}
	}
}
