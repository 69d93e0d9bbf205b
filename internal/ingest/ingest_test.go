package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pact-findmy/pact-findmy/findmy"
	"github.com/pact-findmy/pact-findmy/hci"
	"github.com/pact-findmy/pact-findmy/internal/devicedb"
	"github.com/pact-findmy/pact-findmy/internal/harvest"
	"github.com/pact-findmy/pact-findmy/pact"
)

// reportSource delivers its reports, then either ends or, when hold is
// set, waits like a live adapter with nothing more in range until the
// context is done. fed is closed once every report has been delivered.
type reportSource struct {
	name    string
	reports []hci.AdvReport
	hold    bool
	fed     chan struct{}
}

func (s *reportSource) Reports(ctx context.Context, fn func(*hci.AdvReport) error) error {
	// One report variable, reused as real sources reuse theirs.
	var r hci.AdvReport
	for i := range s.reports {
		r = s.reports[i]
		if err := fn(&r); err != nil {
			return err
		}
	}
	if s.fed != nil {
		close(s.fed)
	}
	if s.hold {
		<-ctx.Done()
		return ctx.Err()
	}
	return nil
}
func (s *reportSource) Close() error        { return nil }
func (s *reportSource) Stats() []any        { return []any{"test_source", s.name} }
func (s *reportSource) FrameErrors() uint64 { return 0 }
func (s *reportSource) Scanning() bool      { return s.hold }
func (s *reportSource) Name() string        { return s.name }

// synthReports returns n reports of a synthetic crowd heard from start on,
// gap apart on average; seed picks the devices.
func synthReports(seed uint64, start time.Time, gap time.Duration, n int) []hci.AdvReport {
	s := harvest.NewSynthesizer(seed, start, gap, harvest.Mix{FindMy: 4, FindMyShort: 2, PACT: 3, Other: 1}, 50, 50)
	rs := make([]hci.AdvReport, n)
	for i := range rs {
		s.Next(&rs[i])
		// The synthesizer reuses its data buffer.
		rs[i].Data = bytes.Clone(rs[i].Data)
	}
	return rs
}

// wantRows parses reports as the pipeline does and returns the distinct
// contact-log rows and partial rows they must leave in the database.
func wantRows(reports []hci.AdvReport, full, partial map[string]bool) {
	h := harvest.New()
	var res harvest.Result
	for i := range reports {
		switch h.Parse(&reports[i], &res) {
		case harvest.KindFindMy, harvest.KindPACT:
			full[fmt.Sprintf("%s %v %d", res.Sighting.Source, res.Sighting.Chirp, res.Sighting.Minute)] = true
		case harvest.KindFindMyPartial:
			p := res.Partial()
			partial[fmt.Sprintf("%x %d %d", p.Prefix, p.Bits, p.Minute)] = true
		}
	}
}

func storedRows(t *testing.T, db *devicedb.DB) (full, partial map[string]bool) {
	t.Helper()
	full, partial = map[string]bool{}, map[string]bool{}
	ctx := context.Background()
	if err := db.Sightings(ctx, 0, ^pact.Minute(0), func(s pact.Sighting) error {
		full[fmt.Sprintf("%s %v %d", s.Source, s.Chirp, s.Minute)] = true
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.PartialSightings(ctx, 0, ^pact.Minute(0), func(p devicedb.PartialSighting) error {
		partial[fmt.Sprintf("%x %d %d", p.Prefix, p.Bits, p.Minute)] = true
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return full, partial
}

// TestTwoPipelinesOneFile runs a node-like pipeline (live, enforcing
// retention) and a findmy-harvester-like one (a replay) at once, each
// through its own handle on one database file, with small batches so
// their transactions interleave: every row of both must arrive, and the
// handles stay open for their owners.
func TestTwoPipelinesOneFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "device.db")
	start := time.Now().Add(-48 * time.Hour)
	const n = 6000
	sources := []*reportSource{
		{name: "node", reports: synthReports(1, start, 20*time.Second, n)},
		{name: "harvester", reports: synthReports(2, start, 20*time.Second, n)},
	}
	wantFull, wantPartial := map[string]bool{}, map[string]bool{}
	for _, s := range sources {
		wantRows(s.reports, wantFull, wantPartial)
	}
	if len(wantFull) < n || len(wantPartial) == 0 {
		t.Fatalf("the crowd yields %d full and %d partial rows: too few to test", len(wantFull), len(wantPartial))
	}
	var dbs []*devicedb.DB
	for range sources {
		db, err := devicedb.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		dbs = append(dbs, db)
	}
	opts := []Options{
		{DB: dbs[0], Expire: true, Live: true, MinRSSI: -128, BatchRows: 37},
		{DB: dbs[1], MinRSSI: -128, BatchRows: 53},
	}
	var wg sync.WaitGroup
	errs := make([]error, len(sources))
	pipes := make([]*Pipeline, len(sources))
	for i := range sources {
		p, err := New(opts[i])
		if err != nil {
			t.Fatal(err)
		}
		pipes[i] = p
		wg.Go(func() { errs[i] = p.Run(context.Background(), sources[i]) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("pipeline %s: %v", sources[i].name, err)
		}
		if s := pipes[i].Snapshot(); s.Transactions < 2 || s.RowsWritten == 0 || s.PartialRowsWritten == 0 {
			t.Errorf("pipeline %s wrote %d rows and %d partial rows in %d transactions", sources[i].name, s.RowsWritten, s.PartialRowsWritten, s.Transactions)
		}
	}
	// Read through both handles: each must still be open and see it all.
	for i, db := range dbs {
		full, partial := storedRows(t, db)
		if !mapsEqual(full, wantFull) || !mapsEqual(partial, wantPartial) {
			t.Errorf("handle %d sees %d full and %d partial rows, want %d and %d", i, len(full), len(partial), len(wantFull), len(wantPartial))
		}
	}
}

func mapsEqual(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

func TestNewRefusesOptions(t *testing.T) {
	cases := []struct {
		name   string
		opts   Options
		option string
		value  int
	}{
		{"RSSI below -128", Options{MinRSSI: -129}, "MinRSSI", -129},
		{"RSSI above 127", Options{MinRSSI: 128}, "MinRSSI", 128},
		{"negative batch", Options{MinRSSI: -128, BatchRows: -1}, "BatchRows", -1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := New(c.opts)
			var oe *OptionError
			if !errors.Is(err, ErrOption) || !errors.As(err, &oe) {
				t.Fatalf("New(%+v) = %v, want an *OptionError wrapping ErrOption", c.opts, err)
			}
			if oe.Option != c.option || oe.Value != c.value {
				t.Errorf("error names %s %d, want %s %d", oe.Option, oe.Value, c.option, c.value)
			}
		})
	}
}

// TestSnapshotAndMetricsWhileRunning checks what a dashboard and a
// Prometheus scrape see of a live source that has delivered its reports
// and waits: counts, rows committed by the periodic flush, rates, the
// source; then that the stop flushes, a second Run is refused, and the
// database was not closed.
func TestSnapshotAndMetricsWhileRunning(t *testing.T) {
	db, err := devicedb.Open(filepath.Join(t.TempDir(), "device.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	src := &reportSource{name: "hci7", reports: synthReports(3, time.Now().Add(-time.Hour), time.Millisecond, 2000), hold: true, fed: make(chan struct{})}
	var lines bytes.Buffer
	var linesMu sync.Mutex
	p, err := New(Options{DB: db, Expire: true, Live: true, MinRSSI: -128, JSONL: lockedWriter{&linesMu, &lines}})
	if err != nil {
		t.Fatal(err)
	}
	if s := p.Snapshot(); s.Running || s.Source != "" || !s.Started.IsZero() {
		t.Errorf("snapshot before Run: %+v", s)
	}
	reg := prometheus.NewRegistry()
	if err := p.Register(reg); err != nil {
		t.Fatal(err)
	}
	if err := p.Register(reg); err == nil {
		t.Error("registering the metrics twice in one registry succeeded")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, src) }()
	<-src.fed

	// The periodic flush commits within about a second; the rates need
	// a second sample.
	deadline := time.Now().Add(10 * time.Second)
	var s Snapshot
	for {
		s = p.Snapshot()
		if s.RowsWritten > 0 && s.RateWindow >= time.Second {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no rows committed or no rate window within 10 s of a live run: %+v", s)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !s.Running || s.Source != "hci7" || !s.Scanning || s.Started.IsZero() {
		t.Errorf("snapshot while running: %+v", s)
	}
	if s.Counts.Total() != 2000 || s.Counts[harvest.KindFindMy] == 0 || s.Counts[harvest.KindPACT] == 0 {
		t.Errorf("counts %v, want 2000 reports with Find My and PACT among them", s.Counts)
	}
	if s.Rates[harvest.KindFindMy] <= 0 || s.Rates[harvest.KindPACT] <= 0 {
		t.Errorf("rates %v over %v, want Find My and PACT above 0", s.Rates, s.RateWindow)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	metrics := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			name := mf.GetName()
			for _, l := range m.GetLabel() {
				name += "/" + l.GetValue()
			}
			metrics[name] = m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	for name, want := range map[string]float64{
		"findmy_harvester_reports_total/findmy": float64(s.Counts[harvest.KindFindMy]),
		"findmy_harvester_reports_total/pact":   float64(s.Counts[harvest.KindPACT]),
		"findmy_harvester_scanning":             1,
		"findmy_harvester_frame_errors_total":   0,
	} {
		if got, ok := metrics[name]; !ok || got != want {
			t.Errorf("metric %s = %v (present %v), want %v", name, got, ok, want)
		}
	}
	if metrics["findmy_harvester_rows_written_total"] == 0 {
		t.Errorf("metric findmy_harvester_rows_written_total is 0 after a flush")
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run after a stop: %v", err)
	}
	s = p.Snapshot()
	if s.Running || s.Rates != ([harvest.NumKinds]float64{}) {
		t.Errorf("snapshot after Run: running %v, rates %v", s.Running, s.Rates)
	}
	linesMu.Lock()
	nLines := strings.Count(lines.String(), "\n")
	linesMu.Unlock()
	if uint64(nLines) != s.Sightings {
		t.Errorf("%d JSON lines, want one per sighting: %d", nLines, s.Sightings)
	}
	full, partial := storedRows(t, db)
	if uint64(len(full)) > s.RowsWritten || len(full) == 0 || uint64(len(partial)) != s.PartialRowsWritten {
		t.Errorf("database holds %d rows and %d partial rows; the pipeline wrote %d and %d", len(full), len(partial), s.RowsWritten, s.PartialRowsWritten)
	}
	if err := p.Run(context.Background(), src); !errors.Is(err, ErrReused) {
		t.Errorf("second Run = %v, want ErrReused", err)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// TestDULTFramesArePartialSightings checks that an AirTag near its owner
// sending the DULT payload (findmy §3.5) reaches the device database as a
// 46-bit partial Find My sighting, and that another network's DULT frame
// is counted but logged as nothing.
func TestDULTFramesArePartialSightings(t *testing.T) {
	ctx := context.Background()
	db, err := devicedb.Open(filepath.Join(t.TempDir(), "device.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	at := time.Date(2026, 11, 30, 10, 0, 30, 0, time.UTC)
	prefix := findmy.Prefix{0x3f, 0x11, 0x22, 0x33, 0x44, 0x55}
	var reports []hci.AdvReport
	for _, network := range []findmy.DULTNetwork{findmy.DULTNetworkApple, findmy.DULTNetworkGoogle} {
		addr, ad, err := findmy.EncodeDULT(prefix, network, true, []byte{0x10, 0x03})
		if err != nil {
			t.Fatal(err)
		}
		reports = append(reports, hci.AdvReport{Time: at, Type: hci.PDUAdvNonconnInd, AddrType: 1, Addr: addr, RSSI: -60, Data: ad})
	}
	p, err := New(Options{DB: db, MinRSSI: -128})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(ctx, &reportSource{name: "dult", reports: reports}); err != nil {
		t.Fatal(err)
	}
	full, partial := storedRows(t, db)
	want := fmt.Sprintf("%x %d %d", prefix, devicedb.PartialBitsDULT, pact.MinuteOf(at))
	if len(full) != 0 || len(partial) != 1 || !partial[want] {
		t.Fatalf("contact log %v, partial sightings %v; want only %q", full, partial, want)
	}
	c := p.Snapshot().Counts
	if c[harvest.KindFindMyDULT] != 1 || c[harvest.KindDULTOther] != 1 {
		t.Fatalf("counts: Apple DULT %d, other DULT %d; want 1 and 1", c[harvest.KindFindMyDULT], c[harvest.KindDULTOther])
	}
}

// TestNativeFrameVersion2Ingest carries a version-2 frame through the
// pipeline: it reaches the contact log as a PACT sighting and the JSON
// lines with its frame version and TX power; a version-1 frame next to it
// says version 1 and TX power unknown.
func TestNativeFrameVersion2Ingest(t *testing.T) {
	ctx := context.Background()
	db, err := devicedb.Open(filepath.Join(t.TempDir(), "device.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	at := time.Date(2026, 11, 30, 10, 0, 30, 0, time.UTC)
	m := pact.MinuteOf(at)
	v2 := pact.ChirpAt(&pact.Seed{2}, m)
	v1 := pact.ChirpAt(&pact.Seed{1}, m)
	v1Addr, v1AD := pact.EncodeAdvert(v1)
	reports := []hci.AdvReport{
		{Time: at, Type: hci.PDUExtended, Extended: true, AddrType: 1, Addr: [6]byte{0x12, 1, 2, 3, 4, 5}, RSSI: -61,
			Data: pact.Frame{Chirp: v2, TxPower: -3}.AppendAD(nil), TxPower: 127},
		{Time: at, Type: hci.PDUAdvNonconnInd, AddrType: 1, Addr: v1Addr, RSSI: -62, Data: v1AD, TxPower: 127},
	}
	var lines bytes.Buffer
	p, err := New(Options{DB: db, JSONL: &lines, MinRSSI: -128})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(ctx, &reportSource{name: "v2", reports: reports}); err != nil {
		t.Fatal(err)
	}
	full, _ := storedRows(t, db)
	for _, c := range []pact.Chirp{v1, v2} {
		if key := fmt.Sprintf("%s %v %d", pact.SourcePACT, c, m); !full[key] {
			t.Errorf("contact log %v lacks %s", full, key)
		}
	}
	want := []struct {
		chirp   pact.Chirp
		frame   int
		txPower int
	}{{v2, 2, -3}, {v1, 1, 127}}
	got := strings.Split(strings.TrimSpace(lines.String()), "\n")
	if len(got) != len(want) {
		t.Fatalf("JSON lines %q, want %d", got, len(want))
	}
	for i, w := range want {
		var line struct {
			Source  string `json:"source"`
			Chirp   string `json:"chirp"`
			Frame   int    `json:"frame"`
			TxPower int    `json:"tx_power"`
		}
		if err := json.Unmarshal([]byte(got[i]), &line); err != nil {
			t.Fatalf("line %q: %v", got[i], err)
		}
		if line.Source != "pact" || line.Chirp != w.chirp.String() || line.Frame != w.frame || line.TxPower != w.txPower {
			t.Errorf("line %d = %+v, want pact %v frame %d tx_power %d", i, line, w.chirp, w.frame, w.txPower)
		}
	}
}

// TestListeningStoresNoLocation checks spec §5.2's default end to end: a
// chirp heard through the pipeline reaches the contact log without a
// location, and so does its match result.
func TestListeningStoresNoLocation(t *testing.T) {
	ctx := context.Background()
	db, err := devicedb.Open(filepath.Join(t.TempDir(), "device.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	at := time.Date(2026, 11, 30, 10, 0, 30, 0, time.UTC)
	seed := pact.Seed{9}
	addr, ad := pact.EncodeAdvert(pact.ChirpAt(&seed, pact.MinuteOf(at)))
	p, err := New(Options{DB: db, MinRSSI: -128})
	if err != nil {
		t.Fatal(err)
	}
	reports := []hci.AdvReport{{Time: at, Type: hci.PDUAdvNonconnInd, AddrType: 1, Addr: addr, RSSI: -60, Data: ad}}
	if err := p.Run(ctx, &reportSource{name: "one chirp", reports: reports}); err != nil {
		t.Fatal(err)
	}
	m, err := pact.LoadMatcher(ctx, db, pact.MatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var found []pact.Contact
	if _, err := m.Match(pact.TupleSeq([]pact.Tuple{{Seed: seed, Start: pact.MinuteOf(at), End: pact.MinuteOf(at)}}), func(c pact.Contact) error {
		found = append(found, c)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.AddContacts(ctx, found); err != nil {
		t.Fatal(err)
	}
	for _, q := range []struct{ table, query string }{
		{"contacts", "SELECT count(*), count(lat), count(lon) FROM contacts"},
		{"exposure_contacts", "SELECT count(*), count(lat), count(lon) FROM exposure_contacts"},
	} {
		var rows, lats, lons int
		if err := db.SQL().QueryRowContext(ctx, q.query).Scan(&rows, &lats, &lons); err != nil {
			t.Fatal(err)
		}
		if rows != 1 || lats != 0 || lons != 0 {
			t.Errorf("%s: %d rows, %d latitudes, %d longitudes; want 1 row and no location", q.table, rows, lats, lons)
		}
	}
}

// TestRepeatedFramesLogged checks what a node logs of a repeater's frames
// (spec §9.1): a repeated chirp with source repeater, a repeated Find My
// key with source findmy-repeater, and not its own chirp that a repeater
// brought back (Options.Own).
func TestRepeatedFramesLogged(t *testing.T) {
	ctx := context.Background()
	db, err := devicedb.Open(filepath.Join(t.TempDir(), "device.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	at := time.Date(2026, 11, 30, 22, 40, 30, 0, time.UTC)
	d, err := findmy.NewPrivateKey([]byte{9, 8, 7, 6, 5, 4, 3, 2, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9, 1})
	if err != nil {
		t.Fatal(err)
	}
	other, own, key := pact.Chirp{0xAA}, pact.Chirp{0x0E}, pact.Chirp(d.Public().Key())
	nrpa := [6]byte{0x21, 0x22, 0x23, 0x24, 0x25, 0x26}
	var reports []hci.AdvReport
	for _, f := range []pact.Frame{
		{Chirp: other, Repeated: true, Age: 4, TxPower: pact.TxPowerUnknown},
		{Chirp: own, Repeated: true, Age: 2, TxPower: pact.TxPowerUnknown},
		{Chirp: key, Kind: pact.FrameFindMyKey, Repeated: true, Age: 1, TxPower: pact.TxPowerUnknown},
	} {
		reports = append(reports, hci.AdvReport{Time: at, Type: hci.PDUExtended, AddrType: 1, Addr: nrpa, RSSI: -70, Data: f.AppendAD(nil)})
	}
	p, err := New(Options{DB: db, MinRSSI: -128, Own: func(c pact.Chirp, heard pact.Minute) bool { return c == own && heard == pact.MinuteOf(at) }})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(ctx, &reportSource{name: "repeater", reports: reports}); err != nil {
		t.Fatal(err)
	}
	full, _ := storedRows(t, db)
	m := pact.MinuteOf(at)
	want := map[string]bool{
		fmt.Sprintf("%s %v %d", pact.SourceRepeater, other, m):     true,
		fmt.Sprintf("%s %v %d", pact.SourceFindMyRepeater, key, m): true,
	}
	if !mapsEqual(full, want) {
		t.Fatalf("contact log %v, want %v", full, want)
	}
	if p.own.Load() != 1 {
		t.Errorf("own repeated chirps dropped: %d, want 1", p.own.Load())
	}
}
