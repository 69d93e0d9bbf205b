package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pact-findmy/pact-findmy/capture"
	"github.com/pact-findmy/pact-findmy/findmy"
	"github.com/pact-findmy/pact-findmy/hci"
	"github.com/pact-findmy/pact-findmy/internal/cli"
	"github.com/pact-findmy/pact-findmy/internal/devicedb"
	"github.com/pact-findmy/pact-findmy/internal/metricsserve"
	"github.com/pact-findmy/pact-findmy/pact"
)

var update = flag.Bool("update", false, "rewrite the capture files and golden outputs in testdata")

// knownFrames are the reports of testdata/known.{btsnoop,pcap}: every kind
// the harvester tells apart, with exact expected outputs in known.jsonl.
type knownFrame struct {
	at       string // offset from the capture start
	typ      hci.PDUType
	extended bool
	addr     string
	ad       string
	rssi     int8
}

const (
	airtagAddr = "FB6D083D25A4"
	airtagAD   = "1eff4c001219102807ce0b3c33332ed37b5d9d8291b1d99d0b8615189700e0"
	pactAddr   = "CE65C2F90B32"
	pactAD     = "1effffff504354014add7702504cc1ad749d198e2c4de21dfa3432bf404f01"
	offCurveAD = "1eff4c001219102807ce0b3c33332ed37b5d9d8291b1d99d0b8615180100e0"
)

var knownFrames = []knownFrame{
	{"0s", hci.PDUAdvNonconnInd, false, airtagAddr, airtagAD, -70},
	{"1s", hci.PDUAdvNonconnInd, false, airtagAddr, airtagAD, -52},
	{"2s", hci.PDUAdvNonconnInd, true, pactAddr, pactAD, -80},
	{"3s", hci.PDUAdvNonconnInd, false, "D51122334455", "07ff4c001202f403", 127},
	{"4s", hci.PDUAdvNonconnInd, false, airtagAddr, offCurveAD, -60},
	{"5s", hci.PDUAdvInd, false, "4A1122334455", "1eff4c000719010e2011aa8f01000000000000000000000000000000000000", -60},
	{"6s", hci.PDUScanRsp, false, airtagAddr, airtagAD, -40},
	{"7s", hci.PDUAdvInd, false, "4A1122334455", "0201061aff7500", -60},
	{"61s", hci.PDUAdvInd, false, airtagAddr, airtagAD, -90},
	{"62s", hci.PDUAdvNonconnInd, false, airtagAddr, airtagAD, -95},
}

var knownStart = time.Date(2026, 3, 1, 12, 34, 0, 0, time.UTC)

func knownEvents(t *testing.T) (times []time.Time, events [][]byte) {
	for _, f := range knownFrames {
		d, err := time.ParseDuration(f.at)
		if err != nil {
			t.Fatal(err)
		}
		addr, _ := hex.DecodeString(f.addr)
		ad, _ := hex.DecodeString(f.ad)
		r := hci.AdvReport{Type: f.typ, AddrType: 1, Addr: [6]byte(addr), Data: ad, RSSI: f.rssi, PrimaryPHY: 1, SID: 0xFF, TxPower: 127}
		var ev []byte
		if f.extended {
			r.EventType, _ = hci.LegacyExtEventType(f.typ)
			ev, err = hci.AppendLEExtendedAdvertisingReport(nil, r)
		} else {
			ev, err = hci.AppendLEAdvertisingReport(nil, r)
		}
		if err != nil {
			t.Fatal(err)
		}
		times = append(times, knownStart.Add(d))
		events = append(events, ev)
	}
	return times, events
}

// writeKnownCaptures writes the test captures: the known frames, a
// truncated advertising report event, a command packet, garbage between
// records and a file that ends inside a record.
func writeKnownCaptures(t *testing.T) {
	times, events := knownEvents(t)
	brokenEvent := []byte{0x3E, 0x0C, 0x02, 0x01, 0x03, 0x01, 1, 2, 3, 4, 5, 6, 0x1F, 0xAA, 0xBB, 0xCC}
	var buf bytes.Buffer
	bw, err := capture.NewBtsnoopWriter(&buf, capture.BtsnoopH4)
	if err != nil {
		t.Fatal(err)
	}
	pbuf := new(bytes.Buffer)
	pw, err := capture.NewPcapWriter(pbuf, capture.LinkTypeBluetoothHCIH4WithPHDR, false)
	if err != nil {
		t.Fatal(err)
	}
	for i := range events {
		must(t, bw.WriteEvent(times[i], events[i]))
		must(t, pw.WriteH4Event(times[i], events[i]))
		if i == 3 {
			must(t, bw.WriteEvent(times[i], brokenEvent))
			must(t, pw.WriteH4Event(times[i], brokenEvent))
			// An HCI command, host to controller: not an event.
			must(t, bw.WriteRecord(times[i], 0, 0, []byte{0x01, 0x0C, 0x20, 0x02, 0x01, 0x00}))
			must(t, pw.WriteRecord(times[i], []byte{0, 0, 0, 0, 0x01, 0x0C, 0x20, 0x02, 0x01, 0x00}))
		}
		if i == 5 {
			must(t, bw.Flush())
			must(t, pw.Flush())
			garbage := bytes.Repeat([]byte{0xFF}, 40)
			buf.Write(garbage)
			pbuf.Write(garbage)
		}
	}
	must(t, bw.Flush())
	must(t, pw.Flush())
	must(t, os.WriteFile("testdata/known.btsnoop", buf.Bytes(), 0o644))
	must(t, os.WriteFile("testdata/known.pcap", pbuf.Bytes(), 0o644))
	must(t, os.WriteFile("testdata/truncated.btsnoop", buf.Bytes()[:buf.Len()-10], 0o644))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

type runCase struct {
	name       string
	args       []string
	db         bool
	wantCode   int
	golden     string   // file in testdata with the expected stdout
	wantStderr []string // substrings: log lines, not error messages
	wantStdout []string // substrings, for help and version
	wantRows   []string // "source chirp minute rssi", sorted by minute, chirp
}

const airtagKey = "3b6d083d25a42807ce0b3c33332ed37b5d9d8291b1d99d0b86151897"
const pactChirp = "4e65c2f90b324add7702504cc1ad749d198e2c4de21dfa3432bf404f"

func TestRun(t *testing.T) {
	if *update {
		writeKnownCaptures(t)
	}
	m0 := pact.MinuteOf(knownStart)
	rows := []string{
		fmt.Sprintf("findmy %s %d -52", airtagKey, m0),
		fmt.Sprintf("pact %s %d -80", pactChirp, m0),
		fmt.Sprintf("findmy %s %d -90", airtagKey, m0+1),
	}
	summary := "findmy=4 findmy_partial=1 pact=1 findmy_invalid=1 malformed=1 apple_other=1 other=0 ignored_pdu=1"
	cases := []runCase{
		{name: "replay btsnoop to jsonl", args: []string{"replay", "--format", "jsonl", "testdata/known.btsnoop"},
			golden: "known.jsonl", wantStderr: []string{summary, "frame_errors=2", "format=btsnoop"}},
		{name: "replay pcap to jsonl", args: []string{"replay", "--format", "jsonl", "testdata/known.pcap"},
			golden: "known.jsonl", wantStderr: []string{summary, "frame_errors=2", "format=pcap"}},
		{name: "replay btsnoop to the contact log", args: []string{"replay", "--batch", "2", "testdata/known.btsnoop"}, db: true,
			wantStderr: []string{summary, "rows_written=3"}, wantRows: rows},
		{name: "replay pcap to both", args: []string{"replay", "--format", "jsonl", "testdata/known.pcap"}, db: true,
			golden: "known.jsonl", wantStderr: []string{"rows_written=3"}, wantRows: rows},
		{name: "min RSSI keeps unknown RSSI", args: []string{"replay", "--min-rssi", "-75", "--format", "jsonl", "testdata/known.btsnoop"}, db: true,
			golden: "known-min-rssi.jsonl", wantStderr: []string{"below_min_rssi=3"},
			wantRows: []string{fmt.Sprintf("findmy %s %d -52", airtagKey, m0)}},
		{name: "truncated capture", args: []string{"replay", "testdata/truncated.btsnoop"},
			wantStderr: []string{"skipping malformed capture record", "frame_errors=3", "findmy=3"}},
		{name: "not a capture", args: []string{"replay", "testdata/known.jsonl"}, wantCode: 1},
		{name: "missing file", args: []string{"replay", "testdata/nope.btsnoop"}, wantCode: 1},
		{name: "replay without a file", args: []string{"replay"}, wantCode: 2},
		{name: "bad format", args: []string{"replay", "--format", "xml", "testdata/known.btsnoop"}, wantCode: 2},
		{name: "metrics off loopback", args: []string{"replay", "--metrics", "0.0.0.0:9477", "testdata/known.btsnoop"}, wantCode: 2},
		{name: "help", args: []string{"replay", "--help"}, wantStdout: []string{"Usage: findmy-harvester replay [flags] FILE", "-min-rssi"}},
		{name: "top-level help", args: []string{"--help"}, wantStdout: []string{"Usage: findmy-harvester COMMAND", "  scan ", "  replay ", "  derive ", "  synth "}},
		{name: "version", args: []string{"--version"}, wantStdout: []string{"findmy-harvester ", "go1."}},
		{name: "no command", args: nil, wantCode: 2},
		{name: "unknown command", args: []string{"fly"}, wantCode: 2},
		{name: "scan without adapter", args: []string{"scan"}, wantCode: 2},
		{name: "derive from the private key", args: []string{"derive", "--secret", "93445416ec078a5bea5a04a66bceb5140194b0e94c889928f8ab3f4fe95588ba",
			"--private-key", "4a28f17c3ca9f90f49894f5b3ff8cf4a74e66475f0c121d592a2bd2d", "--from", "1", "--count", "2", "--epoch", "2026-03-01T12:00:00Z"},
			golden: "derive-private.jsonl"},
		{name: "derive from the public key", args: []string{"derive", "--secret", "93445416ec078a5bea5a04a66bceb5140194b0e94c889928f8ab3f4fe95588ba",
			"--public-key", "04ecd8e89e5f76b78f597d9414a953e65ce2509910110a06bf48d1a249d910342aea4450becc5a1fdc7bb7390663fabda1b3365a1406637201", "--from", "1", "--count", "2"},
			golden: "derive-public.jsonl"},
		{name: "derive with both keys", args: []string{"derive", "--secret", strings.Repeat("00", 32), "--private-key", "01", "--public-key", "02"}, wantCode: 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := c.args
			dbPath := filepath.Join(t.TempDir(), "contacts.db")
			if c.db {
				args = append([]string{args[0], "--db", dbPath}, args[1:]...)
			}
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), args, &stdout, &stderr)
			if code != c.wantCode {
				t.Fatalf("exit code %d, want %d; stderr:\n%s", code, c.wantCode, stderr.String())
			}
			for _, s := range c.wantStdout {
				if !strings.Contains(stdout.String(), s) {
					t.Errorf("stdout lacks %q:\n%s", s, stdout.String())
				}
			}
			for _, s := range c.wantStderr {
				if !strings.Contains(stderr.String(), s) {
					t.Errorf("stderr lacks %q:\n%s", s, stderr.String())
				}
			}
			if c.golden != "" {
				path := filepath.Join("testdata", c.golden)
				if *update {
					must(t, os.WriteFile(path, stdout.Bytes(), 0o644))
				}
				want, err := os.ReadFile(path)
				must(t, err)
				if !bytes.Equal(stdout.Bytes(), want) {
					t.Errorf("stdout differs from %s:\n%s", path, stdout.String())
				}
			}
			if c.db {
				db, err := devicedb.Open(dbPath)
				must(t, err)
				defer db.Close()
				var got []string
				must(t, db.Sightings(context.Background(), 0, ^pact.Minute(0), func(s pact.Sighting) error {
					got = append(got, fmt.Sprintf("%s %v %d %d", s.Source, s.Chirp, s.Minute, s.RSSI))
					return nil
				}))
				if strings.Join(got, "\n") != strings.Join(c.wantRows, "\n") {
					t.Errorf("contact log:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(c.wantRows, "\n"))
				}
			}
		})
	}
}

// TestCommandErrors checks that each command refuses a bad command line
// with the sentinel error and the flag and value at fault, and fails on
// bad input with the cause.
func TestCommandErrors(t *testing.T) {
	secret := strings.Repeat("00", 32)
	cases := []struct {
		name  string
		cmd   string
		args  []string
		want  error  // a sentinel the error wraps
		flag  string // the flag a *cli.FlagError names, if any
		value string
	}{
		{"replay without a file", "replay", nil, errCaptureArg, "", ""},
		{"replay two files", "replay", []string{"a.btsnoop", "b.btsnoop"}, errCaptureArg, "", ""},
		{"replay bad format", "replay", []string{"--format", "xml", "testdata/known.btsnoop"}, cli.ErrUsage, "format", "xml"},
		{"replay bad min RSSI", "replay", []string{"--min-rssi", "-129", "testdata/known.btsnoop"}, cli.ErrUsage, "min-rssi", "-129"},
		{"replay zero batch", "replay", []string{"--batch", "0", "testdata/known.btsnoop"}, cli.ErrUsage, "batch", "0"},
		{"metrics off loopback", "replay", []string{"--metrics", "0.0.0.0:9477", "testdata/known.btsnoop"}, metricsserve.ErrNotLoopback, "metrics", "0.0.0.0:9477"},
		{"metrics on every interface", "replay", []string{"--metrics", ":9477", "testdata/known.btsnoop"}, metricsserve.ErrNotLoopback, "metrics", ":9477"},
		{"metrics without a port", "replay", []string{"--metrics", "127.0.0.1", "testdata/known.btsnoop"}, cli.ErrUsage, "metrics", "127.0.0.1"},
		{"missing capture", "replay", []string{"testdata/nope.btsnoop"}, fs.ErrNotExist, "", ""},
		{"derive with both keys", "derive", []string{"--secret", secret, "--private-key", "01", "--public-key", "02"}, errKeyChoice, "", ""},
		{"derive with no key", "derive", []string{"--secret", secret}, errKeyChoice, "", ""},
		{"derive with --epoch and an index past what a duration holds", "derive", []string{"--secret", secret, "--private-key", "01",
			"--from", "20000000", "--epoch", "2026-03-01T12:00:00Z"}, cli.ErrUsage, "from", "20000000"},
		{"derive with a short secret", "derive", []string{"--secret", "0011", "--private-key", "01"}, cli.ErrUsage, "secret", "0011"},
		{"derive zero count", "derive", []string{"--secret", secret, "--private-key", "01", "--count", "0"}, cli.ErrUsage, "count", "0"},
		{"derive bad epoch", "derive", []string{"--secret", secret, "--private-key", "01", "--epoch", "noon"}, cli.ErrUsage, "epoch", "noon"},
		{"derive stray argument", "derive", []string{"--secret", secret, "--private-key", "01", "extra"}, cli.ErrExtraArgs, "", ""},
		{"synth without output", "synth", nil, cli.ErrRequired, "out", ""},
		{"synth extended over 100", "synth", []string{"--out", "x.btsnoop", "--extended", "101"}, cli.ErrUsage, "extended", "101"},
		{"synth zero gap", "synth", []string{"--out", "x.btsnoop", "--gap", "0s"}, cli.ErrUsage, "gap", "0s"},
		{"synth negative crowd", "synth", []string{"--out", "x.btsnoop", "--crowd-keys", "-1"}, cli.ErrUsage, "crowd-keys", "-1"},
		{"synth bad format", "synth", []string{"--out", filepath.Join(t.TempDir(), "x"), "--format", "wav"}, cli.ErrUsage, "format", "wav"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cmd := program.Commands[slices.IndexFunc(program.Commands, func(x cli.Command) bool { return x.Name == c.cmd })]
			err := cmd.Run(context.Background(), c.args, io.Discard, io.Discard)
			if !errors.Is(err, c.want) {
				t.Fatalf("%s %q = %v, want an error wrapping %v", c.cmd, c.args, err, c.want)
			}
			if flag, value := cli.FlagOf(err); flag != c.flag || value != c.value {
				t.Errorf("error %v names --%s %q, want --%s %q", err, flag, value, c.flag, c.value)
			}
		})
	}
}

// The JSON lines must be valid JSON with the documented fields, each
// holding a value the contract in docs/findmy-harvester.md allows.
func TestJSONLinesFields(t *testing.T) {
	b, err := os.ReadFile("testdata/known.jsonl")
	must(t, err)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 6 {
		t.Fatalf("%d lines, want 6", len(lines))
	}
	chirpDigits := map[string]int{"findmy": 2 * findmy.KeySize, "pact": 2 * pact.ChirpSize, "findmy-partial": 2 * findmy.PrefixSize}
	allowed := map[string][]string{
		"battery":     {"full", "medium", "low", "critical"},
		"device_type": {"apple", "airtag", "accessory", "airpods"},
	}
	sources := map[string]bool{}
	for _, l := range lines {
		var v map[string]any
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		for _, f := range []string{"minute", "source", "chirp", "rssi", "address"} {
			if _, ok := v[f]; !ok {
				t.Errorf("%q lacks %q", l, f)
			}
		}
		source, _ := v["source"].(string)
		sources[source] = true
		digits, ok := chirpDigits[source]
		if !ok {
			t.Errorf("%q: source %q is not findmy, findmy-partial or pact", l, source)
		}
		if chirp, _ := v["chirp"].(string); len(chirp) != digits || strings.Trim(chirp, "0123456789abcdef") != "" {
			t.Errorf("%q: chirp %q is not %d lowercase hex digits", l, chirp, digits)
		}
		if _, ok := v["minute"].(float64); !ok {
			t.Errorf("%q: minute is not a number", l)
		}
		if _, ok := v["rssi"].(float64); !ok {
			t.Errorf("%q: rssi is not a number", l)
		}
		if source == "pact" {
			continue
		}
		for f, words := range allowed {
			if w, _ := v[f].(string); !slices.Contains(words, w) {
				t.Errorf("%q: %s %v, want one of %v", l, f, v[f], words)
			}
		}
		if _, ok := v["maintained"].(bool); !ok {
			t.Errorf("%q: maintained %v is not a boolean", l, v["maintained"])
		}
	}
	if len(sources) != len(chirpDigits) {
		t.Errorf("sources %v: the golden file should hold every source", sources)
	}
}

func TestSynthReplays(t *testing.T) {
	for _, name := range []string{"s.btsnoop", "s.pcap"} {
		out := filepath.Join(t.TempDir(), name)
		var stderr bytes.Buffer
		if code := run(context.Background(), []string{"synth", "--count", "3000", "--out", out}, nil, &stderr); code != 0 {
			t.Fatalf("synth: %d %s", code, stderr.String())
		}
		stderr.Reset()
		var stdout bytes.Buffer
		if code := run(context.Background(), []string{"replay", "--format", "jsonl", out}, &stdout, &stderr); code != 0 {
			t.Fatalf("replay: %d %s", code, stderr.String())
		}
		for _, s := range []string{"reports=3000", "frame_errors=0", "incomplete=0"} {
			if !strings.Contains(stderr.String(), s) {
				t.Errorf("%s: summary lacks %s:\n%s", name, s, stderr.String())
			}
		}
		// Every key the generator sends is on the curve, so every full
		// Find My line must carry a valid key.
		for _, l := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
			var v struct{ Source, Chirp string }
			must(t, json.Unmarshal([]byte(l), &v))
			if v.Source == "findmy" {
				k, err := findmy.ParseKey(v.Chirp)
				if err != nil || !findmy.OnCurve(&k) {
					t.Fatalf("line %s: key not on the curve (%v)", l, err)
				}
			}
		}
	}
}
