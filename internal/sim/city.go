package sim

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/pact-findmy/pact-findmy/exposureclient"
	"github.com/pact-findmy/pact-findmy/findmy"
	"github.com/pact-findmy/pact-findmy/internal/server"
	"github.com/pact-findmy/pact-findmy/pact"
)

// CityConfig sets up a city simulation (docs/simulation.md). Start from
// DefaultCityConfig: RunCity takes every field as given.
type CityConfig struct {
	// Devices is the population; Days how many days are simulated from
	// Start, a midnight UTC.
	Devices int       `json:"devices"`
	Days    int       `json:"days"`
	Start   time.Time `json:"start"`
	// Seed makes the run repeatable: population, movement, radio, chirp
	// seeds and diagnoses all derive from it.
	Seed uint64 `json:"seed"`
	// Observers is how many native devices keep a contact log and match;
	// zero or more than there are natives means all of them. Sampling
	// keeps a million devices within one machine (docs/simulation.md).
	Observers int `json:"observers"`
	// CarrierShare is the share of people seen through Find My frames
	// (AirTags, iPhones) instead of native chirps.
	CarrierShare float64 `json:"carrier_share"`
	// DiagnosisRate is the chance a person is diagnosed on a given day;
	// ConsentRate the share of the diagnosed who upload; RedactionRate the
	// share of the hours of an upload its owner withholds.
	DiagnosisRate float64 `json:"diagnosis_rate"`
	ConsentRate   float64 `json:"consent_rate"`
	RedactionRate float64 `json:"redaction_rate"`
	// UploadDays is how many days of history an upload covers
	// (pact.DefaultBundleDays; GAEN used 14).
	UploadDays int `json:"upload_days"`
	// RegionSize is the number of people in one region (a district).
	RegionSize int `json:"region_size"`
	// UploadDelay is the mean time from a diagnosis to its upload
	// (exponential); SyncInterval how often a device fetches new batches.
	UploadDelay  time.Duration `json:"upload_delay"`
	SyncInterval time.Duration `json:"sync_interval"`
	// PeriodMinutes is the server's batch period.
	PeriodMinutes uint32 `json:"period_minutes"`
	// CloseRange and CloseMinutes define the ground truth: an observer is
	// exposed on a day when it spent CloseMinutes within CloseRange metres
	// of people diagnosed later (within pact.DefaultBundleDays).
	CloseRange   float64 `json:"close_range"`
	CloseMinutes int     `json:"close_minutes"`
	// NotifyRSSI and NotifyMinutes are the rule a device notifies by: that
	// many matched minutes in a day at or above that RSSI.
	NotifyRSSI    int `json:"notify_rssi"`
	NotifyMinutes int `json:"notify_minutes"`
	// Radio is the propagation model.
	Radio CityRadio `json:"radio"`
	// Workers is how many goroutines simulate observers (default
	// GOMAXPROCS); it changes nothing in the result.
	Workers int `json:"-"`
	// Dir holds the exposure server's database; a temporary directory,
	// removed afterwards, when empty.
	Dir string `json:"-"`
	// Log receives progress; nil for none.
	Log *slog.Logger `json:"-"`
	// ProgressEvery is the interval of progress lines (default 10 s).
	ProgressEvery time.Duration `json:"-"`
}

// DefaultCityConfig is a town of 10,000 for three days from Monday
// 2026-11-02, a diagnosis rate of 50 per 100,000 a day (a large wave).
func DefaultCityConfig() CityConfig {
	return CityConfig{
		Devices: 10_000, Days: 3, Start: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC), Seed: 1,
		CarrierShare: 0.2, DiagnosisRate: 0.0005, ConsentRate: 0.6, RedactionRate: 0.05, UploadDays: pact.DefaultBundleDays,
		RegionSize: 100_000, UploadDelay: 2 * time.Hour, SyncInterval: 4 * time.Hour, PeriodMinutes: 10,
		CloseRange: 2, CloseMinutes: 15, NotifyRSSI: -75, NotifyMinutes: 15,
		Radio: DefaultCityRadio,
	}
}

func (c *CityConfig) validate() error {
	rate := func(field string, v float64) error {
		if v < 0 || v > 1 || math.IsNaN(v) {
			return &ConfigError{Field: field, Value: int(math.Round(v * 1000)), Want: "0..1 (shown in thousandths)"}
		}
		return nil
	}
	switch {
	case c.Devices < 2 || c.Devices > 20_000_000:
		return &ConfigError{"Devices", c.Devices, "2..20000000"}
	case c.Days < 1 || c.Days > 60:
		return &ConfigError{"Days", c.Days, "1..60"}
	case c.Observers < 0:
		return &ConfigError{"Observers", c.Observers, "0 (all) or more"}
	case c.UploadDays < 1 || c.UploadDays > pact.DefaultBundleDays:
		return &ConfigError{"UploadDays", c.UploadDays, fmt.Sprintf("1..%d", pact.DefaultBundleDays)}
	case c.RegionSize < 1:
		return &ConfigError{"RegionSize", c.RegionSize, "at least 1"}
	case c.PeriodMinutes < 1 || 1440%c.PeriodMinutes != 0:
		return &ConfigError{"PeriodMinutes", int(c.PeriodMinutes), "a divisor of 1440"}
	case c.SyncInterval < time.Minute:
		return &ConfigError{"SyncInterval", int(c.SyncInterval / time.Second), "at least 60 (seconds)"}
	case c.UploadDelay < 0:
		return &ConfigError{"UploadDelay", int(c.UploadDelay / time.Second), "0 or more (seconds)"}
	case c.CloseMinutes < 1 || c.NotifyMinutes < 1:
		return &ConfigError{"CloseMinutes", min(c.CloseMinutes, c.NotifyMinutes), "at least 1"}
	case c.Radio.ChirpsPerMinute < 1 || c.Radio.FindMyPerMinute < 1:
		return &ConfigError{"Radio.ChirpsPerMinute", min(c.Radio.ChirpsPerMinute, c.Radio.FindMyPerMinute), "at least 1"}
	}
	for _, r := range []struct {
		f string
		v float64
	}{{"CarrierShare", c.CarrierShare}, {"DiagnosisRate", c.DiagnosisRate}, {"ConsentRate", c.ConsentRate}, {"RedactionRate", c.RedactionRate}} {
		if err := rate(r.f, r.v); err != nil {
			return err
		}
	}
	if c.Start.IsZero() || !c.Start.Equal(c.Start.UTC().Truncate(24*time.Hour)) {
		return &ConfigError{"Start", int(c.Start.Unix()), "a midnight UTC (seconds since 1970)"}
	}
	return nil
}

// diagnosis is one person's diagnosis and upload.
type diagnosis struct {
	person  int32
	at      pact.Minute // diagnosed
	upload  pact.Minute // uploaded, when consent
	consent bool
	// from is the first minute of the upload: UploadDays before it.
	from pact.Minute
}

// city is one run.
type city struct {
	cfg   CityConfig
	pop   *population
	start pact.Minute
	days  []*dayIndex
	// diag[i] is person i's diagnosis, nil for none.
	diag      []*diagnosis
	diagnoses []*diagnosis
	// realKeys are the Find My keys of uploading carriers, by slot from
	// the first slot of their upload, and realProofs their proofs of
	// possession for the window each is uploaded with (docs/findmy.md §8).
	realKeys   map[int32][]findmy.Key
	realProofs map[int32][]findmy.Proof
	radio      *receiver
	log        *slog.Logger
}

// slotMinutes is the Find My key rotation period.
const slotMinutes = 15

// pairedDaysBefore is how long before the start every simulated Find My
// device was paired: its key index counts slots from then (findmy §5).
const pairedDaysBefore = 60

func (c *city) isolation(i int, day uint32) int {
	d := c.diag[i]
	if d == nil {
		return 24 * 60
	}
	dayStart := pact.Minute(day * pact.MinutesPerDay)
	switch {
	case d.at < dayStart:
		return 0
	case d.at >= dayStart+pact.MinutesPerDay:
		return 24 * 60
	}
	return int(d.at - dayStart)
}

// seedOf is person i's seed for the hour starting at hour: derived from
// the run seed so that any observer can compute any chirp, in place of
// crypto/rand on a real device (docs/simulation.md).
func (c *city) seedOf(i int32, hour pact.Minute) pact.Seed {
	var b [8 + 4 + 4 + 4]byte
	binary.BigEndian.PutUint64(b[:], c.cfg.Seed)
	binary.BigEndian.PutUint32(b[8:], uint32(i))
	binary.BigEndian.PutUint32(b[12:], uint32(hour))
	copy(b[16:], "seed")
	return pact.Seed(sha256.Sum256(b[:]))
}

// redacted reports whether person i withholds the hour starting at hour
// from an upload.
func (c *city) redacted(i int32, hour pact.Minute) bool {
	return unit(hash4(c.cfg.Seed, uint64(i), uint64(hour), 0x726564, 0)) < c.cfg.RedactionRate
}

// uploaded reports whether the broadcast of person i at minute m is in an
// upload (for a Find My carrier: its key's slot is).
func (c *city) uploaded(i int32, m pact.Minute) bool {
	d := c.diag[i]
	if d == nil || !d.consent || m < d.from || c.redacted(i, m.HourStart()) {
		return false
	}
	if c.pop.people[i].carrier {
		return m/slotMinutes <= d.upload/slotMinutes
	}
	return m <= d.upload
}

// infectious reports whether contact with person i at minute m counts in
// the ground truth: i is diagnosed within pact.DefaultBundleDays after m.
func (c *city) infectious(i int32, m pact.Minute) bool {
	d := c.diag[i]
	return d != nil && m < d.at && d.at-m <= pact.DefaultBundleDays*pact.MinutesPerDay
}

// findMyKey returns the key carrier i advertises at minute m.
func (c *city) findMyKey(i int32, m pact.Minute) findmy.Key {
	slot := m / slotMinutes
	if keys, ok := c.realKeys[i]; ok {
		first := c.diag[i].from / slotMinutes
		if slot >= first && int(slot-first) < len(keys) {
			return keys[slot-first]
		}
	}
	// A key nobody uploads only has to be distinct: 28 bytes from a hash.
	var k findmy.Key
	fillHash(k[:], c.cfg.Seed, uint64(i), uint64(slot), 0x666d)
	return k
}

// fillHash fills dst with hashes of (seed, a, b, tag).
func fillHash(dst []byte, seed, a, b, tag uint64) {
	var w [8]byte
	for j := 0; j < len(dst); j += 8 {
		binary.LittleEndian.PutUint64(w[:], hash4(seed, a, b, uint64(j), tag))
		copy(dst[j:], w[:])
	}
}

// deriveKeys derives the real P-224 rolling keys (findmy §5) of carrier i
// for every slot of its upload, from a pairing secret and private key
// drawn from the run seed, and signs each key's proof of possession for
// the window and region it is uploaded with (findmy §8), as the owner's
// device does: the server refuses a key without one.
func (c *city) deriveKeys(i int32) ([]findmy.Key, []findmy.Proof, error) {
	d := c.diag[i]
	var sk0 findmy.Secret
	var d0b [findmy.KeySize]byte
	fillHash(sk0[:], c.cfg.Seed, uint64(i), 0, 0x736b30)
	fillHash(d0b[:], c.cfg.Seed, uint64(i), 0, 0x6430)
	d0b[0] &= 0x7f // below the group order
	d0b[0] |= 0x01 // not zero
	d0, err := findmy.NewPrivateKey(d0b[:])
	if err != nil {
		return nil, nil, fmt.Errorf("sim: carrier %d private key: %w", i, err)
	}
	first := d.from / slotMinutes
	last := d.upload / slotMinutes
	keys := make([]findmy.Key, 0, last-first+1)
	proofs := make([]findmy.Proof, 0, last-first+1)
	region := regionName(c.pop.people[i].region)
	paired := (c.start - pairedDaysBefore*pact.MinutesPerDay) / slotMinutes
	err = findmy.ScheduleFromPrivateKey(sk0, d0, uint64(first-paired), uint64(last-first+1), func(rk findmy.RollingKey) error {
		start := (first + pact.Minute(len(keys))) * slotMinutes
		st := findmy.Statement{Key: rk.Public.Key(), Kind: findmy.PrimaryKey, Start: uint32(start), End: uint32(min(start+slotMinutes-1, d.upload)), Region: region}
		proof, err := findmy.SignProof(*rk.Private, st)
		if err != nil {
			return err
		}
		keys, proofs = append(keys, st.Key), append(proofs, proof)
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("sim: carrier %d keys: %w", i, err)
	}
	return keys, proofs, nil
}

// progress logs at most every cfg.ProgressEvery.
type progress struct {
	mu    sync.Mutex
	log   *slog.Logger
	every time.Duration
	began time.Time
	last  time.Time
}

func (p *progress) report(phase string, done, total int) {
	if p.log == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if now.Sub(p.last) < p.every && done != total {
		return
	}
	p.last = now
	args := []any{"phase", phase, "done", done, "of", total, "elapsed", now.Sub(p.began).Round(time.Second)}
	if done > 0 && done < total {
		eta := time.Duration(float64(now.Sub(p.began)) / float64(done) * float64(total-done))
		args = append(args, "eta", eta.Round(time.Second))
	}
	p.log.Info("simulating city", args...)
}

// RunCity simulates cfg and reports against ground truth.
func RunCity(ctx context.Context, cfg CityConfig) (*CityReport, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Workers <= 0 {
		cfg.Workers = runtime.GOMAXPROCS(0)
	}
	if cfg.ProgressEvery <= 0 {
		cfg.ProgressEvery = 10 * time.Second
	}
	began := time.Now()
	c := &city{cfg: cfg, start: pact.MinuteOf(cfg.Start), log: cfg.Log, realKeys: map[int32][]findmy.Key{}, realProofs: map[int32][]findmy.Proof{}}
	c.radio = newReceiver(&c.cfg.Radio)
	prog := &progress{log: cfg.Log, every: cfg.ProgressEvery, began: began}

	c.pop = newPopulation(cfg.Devices, cfg.Seed, cfg.CarrierShare, cfg.RegionSize)
	c.drawDiagnoses()
	prog.report("population", cfg.Devices, cfg.Devices)
	for d := range cfg.Days {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		day := uint32(c.start/pact.MinutesPerDay) + uint32(d)
		c.days = append(c.days, c.pop.buildDay(day, func(i int) int { return c.isolation(i, day) }))
		prog.report("days planned", d+1, cfg.Days)
	}
	if err := c.deriveAllKeys(ctx, prog); err != nil {
		return nil, err
	}

	dir := cfg.Dir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "pact-sim-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	rep := &CityReport{Config: cfg}
	ex, err := c.exchange(ctx, dir, rep, prog)
	if err != nil {
		return nil, err
	}
	if err := c.observe(ctx, ex, rep, prog); err != nil {
		return nil, err
	}
	rep.Elapsed = time.Since(began).Round(time.Millisecond).String()
	return rep, nil
}

// drawDiagnoses decides who is diagnosed when, who consents and when they
// upload.
func (c *city) drawDiagnoses() {
	cfg := &c.cfg
	c.diag = make([]*diagnosis, cfg.Devices)
	for d := range cfg.Days {
		dayStart := c.start + pact.Minute(d*pact.MinutesPerDay)
		for i := range cfg.Devices {
			if c.diag[i] != nil || unit(hash4(cfg.Seed, uint64(i), uint64(dayStart), 0x646961, 0)) >= cfg.DiagnosisRate {
				continue
			}
			h := hash4(cfg.Seed, uint64(i), uint64(dayStart), 0x646961, 1)
			dg := &diagnosis{person: int32(i), at: dayStart + 8*60 + pact.Minute(h%(12*60))}
			dg.consent = unit(mix(h)) < cfg.ConsentRate
			delay := -cfg.UploadDelay.Minutes() * math.Log(1-unit(mix(h^0xde1a)))
			dg.upload = dg.at + pact.Minute(min(delay, 2*24*60))
			dg.from = dg.upload.HourStart() - pact.Minute(cfg.UploadDays*24-1)*pact.MinutesPerHour
			c.diag[i] = dg
			c.diagnoses = append(c.diagnoses, dg)
		}
	}
	slices.SortFunc(c.diagnoses, func(a, b *diagnosis) int { return int(a.upload) - int(b.upload) })
}

func (c *city) deriveAllKeys(ctx context.Context, prog *progress) error {
	var carriers []int32
	for _, d := range c.diagnoses {
		if d.consent && c.pop.people[d.person].carrier {
			carriers = append(carriers, d.person)
		}
	}
	keys := make([][]findmy.Key, len(carriers))
	proofs := make([][]findmy.Proof, len(carriers))
	var mu sync.Mutex
	done := 0
	if err := c.parallel(ctx, len(carriers), func(k int) error {
		var err error
		if keys[k], proofs[k], err = c.deriveKeys(carriers[k]); err != nil {
			return err
		}
		mu.Lock()
		done++
		n := done
		mu.Unlock()
		prog.report("Find My keys derived (carriers)", n, len(carriers))
		return nil
	}); err != nil {
		return err
	}
	for k, i := range carriers {
		c.realKeys[i], c.realProofs[i] = keys[k], proofs[k]
	}
	return nil
}

// batchInfo is what the simulation knows of a batch it downloaded.
type batchInfo struct {
	region    string
	available pact.Minute // first minute a device can fetch it
}

// exchangeResult is the exposure data every observer matches.
type exchangeResult struct {
	batches []batchInfo
	tuples  []pact.Tuple
	// tupleEnd[b] is one past the last tuple of batch b.
	tupleEnd []int
	keys     []exposureclient.FindMyKey
	keyBatch map[findmy.Key]int32
	keyOwner map[findmy.Key]int32
	owner    map[pact.Seed]int32
}

func (x *exchangeResult) batchOfTuple(i int64) int {
	return sort.SearchInts(x.tupleEnd, int(i)+1)
}

// exchange uploads every consenting diagnosis to a real exposure server
// at its simulated time, cuts batches at period boundaries, downloads
// them per region and for all regions, and measures the bytes.
func (c *city) exchange(ctx context.Context, dir string, rep *CityReport, prog *progress) (*exchangeResult, error) {
	cfg := &c.cfg
	ex, err := startExposureServer(ctx, dir, cfg.PeriodMinutes, cfg.Start)
	if err != nil {
		return nil, err
	}
	defer ex.close()
	var uploads []*diagnosis
	for _, d := range c.diagnoses {
		rep.Diagnoses++
		if d.consent {
			uploads = append(uploads, d)
		}
	}
	end := c.start + pact.Minute(cfg.Days*pact.MinutesPerDay)
	numbers, err := ex.issue(ctx, len(uploads), cfg.Start.Add(-24*time.Hour), end.Time().Add(30*24*time.Hour))
	if err != nil {
		return nil, err
	}
	x := &exchangeResult{keyBatch: map[findmy.Key]int32{}, keyOwner: map[findmy.Key]int32{}, owner: map[pact.Seed]int32{}}
	var upBytes, upTuples, upKeys, binaryBytes int
	for k, d := range uploads {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		region := regionName(c.pop.people[d.person].region)
		up := exposureclient.Upload{PermissionNumber: numbers[k].Grouped(), Region: region}
		if c.pop.people[d.person].carrier {
			keys := c.realKeys[d.person]
			first := d.from / slotMinutes
			for s, key := range keys {
				start := (first + pact.Minute(s)) * slotMinutes
				if c.redacted(d.person, start.HourStart()) {
					continue
				}
				up.FindMyKeys = append(up.FindMyKeys, exposureclient.FindMyKey{Key: key, Start: start, End: min(start+slotMinutes-1, d.upload), Proof: c.realProofs[d.person][s]})
				x.keyOwner[key] = d.person
			}
		} else {
			for h := d.from; h <= d.upload; h += pact.MinutesPerHour {
				if c.redacted(d.person, h) {
					continue
				}
				t := pact.Tuple{Seed: c.seedOf(d.person, h), Start: h, End: min(h+pact.MinutesPerHour-1, d.upload)}
				up.Tuples = append(up.Tuples, t)
				x.owner[t.Seed] = d.person
			}
			b, err := pact.EncodeTuples(up.Tuples)
			if err != nil {
				return nil, err
			}
			binaryBytes += len(b)
		}
		if len(up.Tuples) == 0 && len(up.FindMyKeys) == 0 {
			continue // everything withheld
		}
		if _, err := ex.cut(ctx, d.upload.Time()); err != nil {
			return nil, fmt.Errorf("sim: cutting batches: %w", err)
		}
		n, err := ex.upload(ctx, d.upload.Time().Add(30*time.Second), up)
		if err != nil {
			return nil, err
		}
		rep.Uploads++
		upBytes += n
		upTuples += len(up.Tuples)
		upKeys += len(up.FindMyKeys)
		prog.report("uploads", k+1, len(uploads))
	}
	last := end
	if len(uploads) > 0 {
		last = max(last, uploads[len(uploads)-1].upload)
	}
	// The server holds uploads until enough others arrive or its longest
	// hold passes (docs/api.md, "Holding and chaff"): the last cut comes
	// after that, so that every upload is published.
	maxHold := pact.Minute(server.DefaultConfig().MaxHold / time.Minute)
	if _, err := ex.cut(ctx, (last + maxHold + 2*pact.Minute(cfg.PeriodMinutes)).Time()); err != nil {
		return nil, fmt.Errorf("sim: cutting batches: %w", err)
	}
	if rep.Uploads > 0 {
		rep.Upload = UploadFigures{
			PerDiagnosisBytes:   float64(upBytes) / float64(rep.Uploads),
			TuplesPerUpload:     float64(upTuples) / float64(rep.Uploads),
			FindMyKeysPerUpload: float64(upKeys) / float64(rep.Uploads),
		}
		if natives := rep.Uploads - countCarriers(c, uploads); natives > 0 {
			rep.Upload.BinaryTupleBytes = float64(binaryBytes) / float64(natives)
		}
	}

	// Downloads: every region on its own, then all regions at once.
	days := float64(cfg.Days)
	for r := range c.pop.regions {
		bs, n, err := ex.download(ctx, regionName(uint16(r)))
		if err != nil {
			return nil, err
		}
		rep.Download.Regions = append(rep.Download.Regions, RegionDownload{Region: regionName(uint16(r)), Batches: len(bs), BytesPerDay: float64(n) / days})
	}
	all, n, err := ex.download(ctx, "")
	if err != nil {
		return nil, err
	}
	rep.Download.AllRegionsBytesPerDay = float64(n) / days
	var entries, fmEntries, batchBytes int
	for _, b := range all {
		x.batches = append(x.batches, batchInfo{region: b.Region, available: b.PeriodStart + pact.Minute(b.PeriodMinutes)})
		x.tuples = append(x.tuples, b.Tuples...)
		x.tupleEnd = append(x.tupleEnd, len(x.tuples))
		for _, k := range b.FindMy {
			x.keyBatch[k.Key] = int32(len(x.batches) - 1)
		}
		x.keys = append(x.keys, b.FindMy...)
		entries += len(b.Tuples)
		fmEntries += len(b.FindMy)
	}
	infos, err := ex.store.Batches(ctx, "", 0)
	if err != nil {
		return nil, err
	}
	for _, b := range infos {
		batchBytes += b.Size
	}
	rep.Download.Batches = len(all)
	rep.Download.SeedHours = entries
	rep.Download.FindMyKeys = fmEntries
	rep.Download.BatchBytes = batchBytes
	if entries+fmEntries > 0 {
		rep.Download.BytesPerEntry = float64(batchBytes) / float64(entries+fmEntries)
	}
	if rep.Download.Regions != nil {
		sum := 0.0
		for _, r := range rep.Download.Regions {
			sum += r.BytesPerDay
		}
		rep.Download.MeanRegionBytesPerDay = sum / float64(len(rep.Download.Regions))
	}
	if err := ex.store.Close(); err != nil {
		return nil, err
	}
	if rep.Server.DatabaseBytes, err = ex.storage(); err != nil {
		return nil, err
	}
	rep.Server.BatchBytes = int64(batchBytes)
	rep.Server.BytesPerDay = float64(rep.Server.DatabaseBytes) / days
	return x, nil
}

func countCarriers(c *city, ds []*diagnosis) int {
	n := 0
	for _, d := range ds {
		if c.pop.people[d.person].carrier {
			n++
		}
	}
	return n
}

func regionName(r uint16) string { return fmt.Sprintf("R%03d", r+1) }

// chooseObservers returns the observers: a uniform sample of the native
// devices, in person order.
func (c *city) chooseObservers() []int32 {
	var natives []int32
	for i := range c.pop.people {
		if !c.pop.people[i].carrier {
			natives = append(natives, int32(i))
		}
	}
	k := c.cfg.Observers
	if k == 0 || k >= len(natives) {
		return natives
	}
	rng := rand.New(rand.NewPCG(c.cfg.Seed, 0x6f6273))
	for i := range k {
		j := i + rng.IntN(len(natives)-i)
		natives[i], natives[j] = natives[j], natives[i]
	}
	out := natives[:k]
	slices.Sort(out)
	return out
}
