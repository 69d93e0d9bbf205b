package hci

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-ble/ble/linux/hci/cmd"
)

func cmdTestHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

func cmdTestLoad(t testing.TB, name string, v any) {
	t.Helper()
	raw, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("testdata/%s: %v", name, err)
	}
}

type commandResponseCase struct {
	Name        string `json:"name"`
	Hex         string `json:"hex"`
	NotResponse bool   `json:"not_response"`
	Opcode      uint16 `json:"opcode"`
	Credits     uint8  `json:"credits"`
	Status      uint8  `json:"status"`
	Return      string `json:"return"`
	Pending     bool   `json:"pending"`
	BadField    string `json:"malformed_field"`
	BadOffset   int64  `json:"malformed_offset"`
}

func loadCommandResponseCases(t testing.TB) []commandResponseCase {
	var file struct {
		Cases []commandResponseCase `json:"cases"`
	}
	cmdTestLoad(t, "command_responses.json", &file)
	return file.Cases
}

func TestParseCommandResponse(t *testing.T) {
	for _, c := range loadCommandResponseCases(t) {
		t.Run(c.Name, func(t *testing.T) {
			resp, ok, err := parseCommandResponse(cmdTestHex(t, c.Hex))
			if c.NotResponse {
				if ok || err != nil {
					t.Fatalf("got ok=%v err=%v, want neither", ok, err)
				}
				return
			}
			if !ok {
				t.Fatal("not recognised as a command response")
			}
			if c.BadField != "" {
				checkFormatError(t, err, c.BadField, c.BadOffset)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if uint16(resp.Opcode) != c.Opcode || resp.Credits != c.Credits || resp.Status != c.Status || resp.Pending != c.Pending {
				t.Errorf("got %+v, want opcode 0x%04X credits %d status %d pending %v", resp, c.Opcode, c.Credits, c.Status, c.Pending)
			}
			if got := strings.ToUpper(hex.EncodeToString(resp.Return)); got != c.Return {
				t.Errorf("return parameters %s, want %s", got, c.Return)
			}
		})
	}
}

func FuzzParseCommandResponse(f *testing.F) {
	for _, c := range loadCommandResponseCases(f) {
		f.Add(cmdTestHex(f, c.Hex))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		resp, ok, err := parseCommandResponse(b)
		if !ok || err != nil {
			if err != nil && !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		// Every byte of the parameters is accounted for.
		switch {
		case resp.Pending && len(b) != 2+commandStatusLen:
			t.Fatalf("Command Status of %d bytes accepted", len(b))
		case !resp.Pending && resp.Opcode != opNop && len(b) != 2+commandCompleteFixed+1+len(resp.Return):
			t.Fatalf("Command Complete of %d bytes gave %d return bytes", len(b), len(resp.Return))
		}
	})
}

type scanConfigCase struct {
	Name         string `json:"name"`
	Interval     string `json:"interval"`
	Window       string `json:"window"`
	WantInterval uint16 `json:"want_interval"`
	WantWindow   uint16 `json:"want_window"`
	// BadSetting is the setting a refused configuration names.
	BadSetting string `json:"invalid_setting"`
}

func TestScanConfigUnits(t *testing.T) {
	var file struct {
		Cases []scanConfigCase `json:"cases"`
	}
	cmdTestLoad(t, "scan_configs.json", &file)
	for _, c := range file.Cases {
		t.Run(c.Name, func(t *testing.T) {
			iv, err1 := time.ParseDuration(c.Interval)
			win, err2 := time.ParseDuration(c.Window)
			if err := errors.Join(err1, err2); err != nil {
				t.Fatal(err)
			}
			gotIv, gotWin, err := ScanConfig{Interval: iv, Window: win}.scanUnits()
			if c.BadSetting != "" {
				value := c.Interval
				if c.BadSetting == "scan window" {
					value = c.Window
				}
				checkSettingError(t, err, c.BadSetting, value)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if gotIv != c.WantInterval || gotWin != c.WantWindow {
				t.Errorf("units %d/%d, want %d/%d", gotIv, gotWin, c.WantInterval, c.WantWindow)
			}
		})
	}
}

// packetPipe is the controller end of a Controller under test: it records
// the command packets the host writes and answers each with Command
// Complete and the status reply() picks, as a controller does. It checks
// the host side's own logic (encoding, opcode matching, timeouts, report
// queueing); the VM test in internal/vmtest checks it against a real kernel.
type packetPipe struct {
	mu      sync.Mutex
	sent    [][]byte
	toHost  chan []byte
	closed  chan struct{}
	once    sync.Once
	reply   func(op Opcode) (status uint8, answer bool)
	credits uint8  // Num_HCI_Command_Packets in each reply
	stray   []byte // sent before each reply, if set
	returns map[Opcode][]byte
}

func newPacketPipe() *packetPipe {
	return &packetPipe{toHost: make(chan []byte, 64), closed: make(chan struct{}), credits: 1,
		reply: func(Opcode) (uint8, bool) { return 0, true }}
}

func (p *packetPipe) ReadPacket(b []byte) (int, error) {
	select {
	case pkt := <-p.toHost:
		return copy(b, pkt), nil
	case <-p.closed:
		return 0, ErrClosed
	}
}

func (p *packetPipe) WritePacket(b []byte) error {
	p.mu.Lock()
	p.sent = append(p.sent, append([]byte(nil), b...))
	p.mu.Unlock()
	op := Opcode(uint16(b[1]) | uint16(b[2])<<8)
	status, answer := p.reply(op)
	if p.stray != nil {
		p.toHost <- p.stray
	}
	if answer {
		params := append([]byte{p.credits, byte(op), byte(op >> 8), status}, p.returns[op]...)
		p.toHost <- append([]byte{hciPacketEvent, eventCommandComplete, byte(len(params))}, params...)
	}
	return nil
}

func (p *packetPipe) Close() error {
	p.once.Do(func() { close(p.closed) })
	return nil
}

func (p *packetPipe) sentHex() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, b := range p.sent {
		out = append(out, strings.ToUpper(hex.EncodeToString(b)))
	}
	return out
}

func TestCommandPackets(t *testing.T) {
	var file struct {
		Scan []struct {
			Name     string   `json:"name"`
			Extended bool     `json:"extended"`
			Interval string   `json:"interval"`
			Window   string   `json:"window"`
			Packets  []string `json:"packets"`
		} `json:"scan"`
		Advertise         []advertiseCase `json:"advertise"`
		AdvertiseExtended []advertiseCase `json:"advertise_extended"`
	}
	cmdTestLoad(t, "command_packets.json", &file)
	ctx := context.Background()
	for _, c := range file.Scan {
		t.Run("scan/"+c.Name, func(t *testing.T) {
			pipe := newPacketPipe()
			ctl := newController(pipe, time.Second, nil)
			defer ctl.Close()
			iv, _ := time.ParseDuration(c.Interval)
			win, _ := time.ParseDuration(c.Window)
			mode := ExtendedOff
			if c.Extended {
				mode = ExtendedOn
			}
			caps := capabilities{Commands: make([]byte, supportedCommandsLen), LEFeatures: leFeatureExtendedAdvertising}
			caps.Commands[37] = 1<<5 | 1<<6
			state, err := startScan(ctx, ctl, caps, ScanConfig{Interval: iv, Window: win, Extended: mode})
			if err != nil {
				t.Fatal(err)
			}
			if state.Extended != c.Extended {
				t.Errorf("extended %v, want %v", state.Extended, c.Extended)
			}
			cmdTestSamePackets(t, pipe.sentHex(), c.Packets)
		})
	}
	// The advertise cases run in order on one controller: the second
	// shows what changes when a frame replaces another.
	runAdvertise := func(kind string, cases []advertiseCase, newAdv func(*controller) (frameAdvertiser, error)) {
		pipe := newPacketPipe()
		ctl := newController(pipe, time.Second, nil)
		defer ctl.Close()
		adv, err := newAdv(ctl)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cases {
			t.Run(kind+"/"+c.Name, func(t *testing.T) {
				before := len(pipe.sentHex())
				if err := adv.Advertise(ctx, [6]byte(cmdTestHex(t, c.Address)), cmdTestHex(t, c.Data)); err != nil {
					t.Fatal(err)
				}
				cmdTestSamePackets(t, pipe.sentHex()[before:], c.Packets)
			})
		}
	}
	runAdvertise("advertise", file.Advertise, func(c *controller) (frameAdvertiser, error) { return newAdvertiser(c, 0) })
	runAdvertise("advertise-extended", file.AdvertiseExtended, func(c *controller) (frameAdvertiser, error) {
		return newExtendedAdvertiser(c, 0, false)
	})
}

// TestExtendedAdvertiserTxPower checks that the parameters are sent once,
// before any frame, and that the Selected_TX_Power of their reply is kept
// (Core spec Vol 4 Part E §7.8.53).
func TestExtendedAdvertiserTxPower(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		returns []byte
		want    int8
		known   bool
	}{
		{"-6 dBm", []byte{0xFA}, -6, true},
		{"+4 dBm", []byte{0x04}, 4, true},
		{"no return parameter", nil, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pipe := newPacketPipe()
			pipe.returns = map[Opcode][]byte{opLESetExtendedAdvParameters: tt.returns}
			ctl := newController(pipe, time.Second, nil)
			defer ctl.Close()
			adv, err := newExtendedAdvertiser(ctl, 250*time.Millisecond, false)
			if err != nil {
				t.Fatal(err)
			}
			if err := adv.setParams(ctx); err != nil {
				t.Fatal(err)
			}
			if adv.txPower != tt.want || adv.txPowerKnown != tt.known {
				t.Fatalf("TX power %d known %v, want %d %v", adv.txPower, adv.txPowerKnown, tt.want, tt.known)
			}
			if err := adv.Advertise(ctx, [6]byte{0x12, 1, 2, 3, 4, 5}, []byte{2, 1, 6}); err != nil {
				t.Fatal(err)
			}
			sent := pipe.sentHex()
			// Parameters (interval 250 ms = 400 units, 0x000190), then
			// address, data, enable: the parameters are not sent again.
			want := []string{
				"01362019000000900100900100070100000000000000007F0100010000",
				"0135200700050403020112",
				"013720070003010302010" + "6",
				"01392006010100000000",
			}
			cmdTestSamePackets(t, sent, want)
		})
	}
}

type advertiseCase struct {
	Name    string   `json:"name"`
	Address string   `json:"address"`
	Data    string   `json:"data"`
	Packets []string `json:"packets"`
}

func cmdTestSamePackets(t *testing.T, got, want []string) {
	t.Helper()
	for i := range want {
		want[i] = strings.ReplaceAll(want[i], " ", "")
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("packets sent:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestControllerErrors(t *testing.T) {
	ctx := context.Background()

	t.Run("status is an error naming the command", func(t *testing.T) {
		pipe := newPacketPipe()
		pipe.reply = func(Opcode) (uint8, bool) { return statusCommandDisallowed, true }
		ctl := newController(pipe, time.Second, nil)
		defer ctl.Close()
		_, err := ctl.Run(ctx, &cmd.LESetScanParameters{})
		var cerr *CommandError
		if !errors.As(err, &cerr) || cerr.Status != statusCommandDisallowed || cerr.Opcode != opLESetScanParameters {
			t.Fatalf("got %v, want a CommandError for LE Set Scan Parameters with status 0x0C", err)
		}
	})

	t.Run("responses to other commands are not taken for ours", func(t *testing.T) {
		pipe := newPacketPipe()
		// On the raw channel the kernel's own commands complete on the
		// same socket.
		pipe.stray = cmdTestHex(t, "040E0401030C00")
		pipe.returns = map[Opcode][]byte{opLEReadLocalSupportedFeatures: cmdTestHex(t, "0010000000000000")}
		ctl := newController(pipe, time.Second, nil)
		defer ctl.Close()
		ret, err := ctl.Run(ctx, &cmd.LEReadLocalSupportedFeatures{})
		if err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(ret); got != "0010000000000000" {
			t.Errorf("return %s, want the features", got)
		}
	})

	t.Run("silence times out", func(t *testing.T) {
		pipe := newPacketPipe()
		pipe.reply = func(Opcode) (uint8, bool) { return 0, false }
		ctl := newController(pipe, 20*time.Millisecond, nil)
		defer ctl.Close()
		_, err := ctl.Run(ctx, &cmd.Reset{})
		var cerr *CommandError
		if !errors.As(err, &cerr) || !cerr.Timeout {
			t.Fatalf("got %v, want a timeout", err)
		}
	})

	t.Run("no command while the controller has no credit", func(t *testing.T) {
		pipe := newPacketPipe()
		pipe.credits = 0
		ctl := newController(pipe, 200*time.Millisecond, nil)
		defer ctl.Close()
		if _, err := ctl.Run(ctx, &cmd.Reset{}); err != nil {
			t.Fatal(err)
		}
		// Without a credit the next command must not go out at all.
		_, err := ctl.Run(ctx, &cmd.SetEventMask{})
		if !errors.Is(err, ErrNoCredit) {
			t.Fatalf("got %v, want the no-credit error", err)
		}
		if n := len(pipe.sentHex()); n != 1 {
			t.Fatalf("%d commands sent, want only the Reset", n)
		}
		// A credit update (Command Complete for opcode 0) lets it go.
		pipe.credits = 1
		go func() {
			time.Sleep(20 * time.Millisecond)
			pipe.toHost <- cmdTestHex(t, "040E03010000")
		}()
		if _, err := ctl.Run(ctx, &cmd.SetEventMask{}); err != nil {
			t.Fatalf("after the credit came back: %v", err)
		}
	})

	t.Run("closing ends a waiting command", func(t *testing.T) {
		pipe := newPacketPipe()
		pipe.reply = func(Opcode) (uint8, bool) { return 0, false }
		ctl := newController(pipe, time.Minute, nil)
		go func() { time.Sleep(10 * time.Millisecond); ctl.Close() }()
		if _, err := ctl.Run(ctx, &cmd.Reset{}); !errors.Is(err, ErrClosed) {
			t.Fatalf("got %v, want the connection-ended error", err)
		}
	})
}

func TestControllerReports(t *testing.T) {
	pipe := newPacketPipe()
	ctl := newController(pipe, time.Second, nil)
	// A good legacy report, a truncated one, and an unrelated event.
	good := "043E2B02010301A4253D086DFB1F" + "1EFF4C001219102807CE0B3C33332ED37B5D9D8291B1D99D0B8615189700E0" + "7F"
	pipe.toHost <- cmdTestHex(t, good)
	pipe.toHost <- cmdTestHex(t, "043E0502010301A4")
	pipe.toHost <- cmdTestHex(t, "04050400010000")
	deadline := time.Now().Add(5 * time.Second)
	for ctl.Stats().Events < 3 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	ctl.Close()
	var got []string
	err := ctl.Reports(context.Background(), func(r *AdvReport) error {
		got = append(got, strings.ToUpper(hex.EncodeToString(r.Addr[:])+" "+hex.EncodeToString(r.Data)))
		if r.Time.IsZero() {
			t.Error("report without receive time")
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Reports after Close: %v", err)
	}
	want := "FB6D083D25A4 1EFF4C001219102807CE0B3C33332ED37B5D9D8291B1D99D0B8615189700E0"
	if len(got) != 1 || got[0] != want {
		t.Fatalf("reports %q, want [%q]", got, want)
	}
	st := ctl.Stats()
	if st.Events != 3 || st.AdvEvents != 2 || st.Malformed != 1 {
		t.Errorf("stats %+v, want 3 events, 2 advertising, 1 malformed", st)
	}
}

// A stop (ctx done) must not drop the reports the reader already queued:
// they were heard before the stop, and the harvester flushes after it.
func TestControllerReportsDrainsQueueOnStop(t *testing.T) {
	pipe := newPacketPipe()
	ctl := newController(pipe, time.Second, nil)
	defer ctl.Close()
	good := "043E2B02010301A4253D086DFB1F" + "1EFF4C001219102807CE0B3C33332ED37B5D9D8291B1D99D0B8615189700E0" + "7F"
	const queued = 32
	for range queued {
		pipe.toHost <- cmdTestHex(t, good)
	}
	deadline := time.Now().Add(5 * time.Second)
	for ctl.Stats().AdvEvents < queued && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	n := 0
	if err := ctl.Reports(ctx, func(*AdvReport) error { n++; return nil }); err != nil {
		t.Fatalf("Reports after the stop: %v", err)
	}
	if n != queued {
		t.Fatalf("%d reports delivered after the stop, want all %d queued", n, queued)
	}
}
