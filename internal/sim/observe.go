package sim

import (
	"context"
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/pact-findmy/pact-findmy/internal/devicedb"
	"github.com/pact-findmy/pact-findmy/internal/findmymatch"
	"github.com/pact-findmy/pact-findmy/pact"
)

// minuteSet is one bit per minute of a day.
type minuteSet [(24*60 + 63) / 64]uint64

func (s *minuteSet) add(m int) { s[m>>6] |= 1 << (m & 63) }
func (s *minuteSet) count() int {
	n := 0
	for _, w := range s {
		n += bits.OnesCount64(w)
	}
	return n
}

// observerDay is what one observer lived and learned on one day.
type observerDay struct {
	// close are the minutes within CloseRange of someone infectious;
	// closeUploaded of someone infectious who uploaded.
	close, closeUploaded minuteSet
	// heardUploaded are the minutes the observer received a broadcast
	// that some upload covers: exactly what the matcher must find.
	heardUploaded minuteSet
	sightings     int
	// matched holds, per minute with a match, the strongest RSSI and the
	// earliest moment a batch with that match could be fetched.
	matched map[uint16]*matchedMinute
}

type matchedMinute struct {
	rssi      int8
	available pact.Minute
	diagnosed pact.Minute // the diagnosis behind that batch's match
}

// observer is one observer's whole run.
type observer struct {
	id     int32
	days   []observerDay
	pact   []pact.Sighting
	findMy []pact.Sighting
	// findMyMatches counts what findmymatch found.
	findMyMatches int
}

// hear simulates every minute observer o spends with others and fills its
// contact log and ground truth.
func (c *city) hear(o *observer) {
	rng := rand.New(rand.NewPCG(c.cfg.Seed^0x68656172, uint64(o.id)))
	var scratch []stay
	for di, day := range c.days {
		od := &o.days[di]
		dayStart := pact.Minute(day.day * pact.MinutesPerDay)
		scratch = day.staysOf(c.pop, int(o.id), c.isolation(int(o.id), day.day), scratch)
		for _, s := range scratch {
			for _, t := range day.stays(s.venue) {
				if t.person == o.id {
					continue
				}
				lo, hi := max(s.from, t.from), min(s.to, t.to)
				if lo >= hi {
					continue
				}
				c.hearPair(rng, o, od, dayStart, s.venue, t.person, int(lo), int(hi))
			}
		}
	}
}

// position is where person i stands in venue v during epoch e of a day.
func (c *city) position(i int32, v int32, day uint32, e int, radius float64) point {
	h := hash4(c.cfg.Seed, uint64(i), uint64(v), uint64(day), uint64(e))
	r := radius * math.Sqrt(unit(h))
	a := 2 * math.Pi * unit(mix(h))
	return point{r * math.Cos(a), r * math.Sin(a)}
}

func (c *city) hearPair(rng *rand.Rand, o *observer, od *observerDay, dayStart pact.Minute, v int32, j int32, lo, hi int) {
	kind, radius := c.pop.venueOf(v)
	day := uint32(dayStart / pact.MinutesPerDay)
	sender := &c.pop.people[j]
	carrier := sender.carrier
	n := c.cfg.Radio.ChirpsPerMinute
	txLoss := -float64(sender.txOffset)
	if carrier {
		n = c.cfg.Radio.FindMyPerMinute
		txLoss -= c.cfg.Radio.FindMyOffset
	}
	carry := c.cfg.Radio.carryLoss(hash4(c.cfg.Seed, uint64(o.id), uint64(day), uint64(v), 0x6361)) +
		c.cfg.Radio.carryLoss(hash4(c.cfg.Seed, uint64(j), uint64(day), uint64(v), 0x6361))
	a, b := min(o.id, j), max(o.id, j)
	indoor := kind == venueHome || kind == venueRoom || kind == venueClass
	every := moveEvery[kind]
	lastEpoch := math.MinInt
	var dist, loss float64
	var key *pact.ChirpKey
	keyHour := pact.Minute(math.MaxUint32)
	for m := lo; m < hi; m++ {
		e := m / every
		if kind == venueHome && (m < 7*60 || m >= 23*60) {
			e = -1 // asleep: one spot for the night
		}
		if e != lastEpoch {
			lastEpoch = e
			dist = c.position(o.id, v, day, e, radius).distance(c.position(j, v, day, e, radius))
			loss = txLoss + carry + c.cfg.Radio.bodyLoss(hash4(c.cfg.Seed, uint64(a), uint64(b), uint64(day), uint64(int64(e)+1<<32)))
			if indoor && dist > 4 {
				loss += c.cfg.Radio.WallLoss
			}
		}
		at := dayStart + pact.Minute(m)
		if dist <= c.cfg.CloseRange && c.infectious(j, at) {
			od.close.add(m)
			if c.diag[j].consent {
				od.closeUploaded.add(m)
			}
		}
		rssi, heard := c.radio.minute(rng, dist, loss, n)
		if !heard {
			continue
		}
		od.sightings++
		if c.uploaded(j, at) {
			od.heardUploaded.add(m)
		}
		if carrier {
			o.findMy = append(o.findMy, pact.Sighting{Chirp: pact.Chirp(c.findMyKey(j, at)), Minute: at, RSSI: rssi, Source: pact.SourceFindMy})
			continue
		}
		if h := at.HourStart(); h != keyHour {
			seed := c.seedOf(j, h)
			key, keyHour = pact.NewChirpKey(&seed), h
		}
		o.pact = append(o.pact, pact.Sighting{Chirp: key.Chirp(at), Minute: at, RSSI: rssi, Source: pact.SourcePACT})
	}
}

// memFindMy serves an observer's Find My sightings to findmymatch.
type memFindMy []pact.Sighting

func (s memFindMy) FindMySightings(_ context.Context, from, to pact.Minute, fn func(pact.Sighting) error) error {
	i := sort.Search(len(s), func(i int) bool { return s[i].Minute >= from })
	for ; i < len(s) && s[i].Minute <= to; i++ {
		if err := fn(s[i]); err != nil {
			return err
		}
	}
	return nil
}

func (memFindMy) PartialSightings(context.Context, pact.Minute, pact.Minute, func(devicedb.PartialSighting) error) error {
	return nil
}

// match runs the real matchers over the observer's contact log: the
// PACT matcher against every tuple of every batch, findmymatch against
// every Find My key.
func (c *city) match(ctx context.Context, o *observer, x *exchangeResult) (pact.MatchStats, error) {
	record := func(heard pact.Minute, rssi int8, batch int, owner int32) {
		di := int(heard-c.start) / pact.MinutesPerDay
		if heard < c.start || di >= len(o.days) {
			return
		}
		od := &o.days[di]
		if od.matched == nil {
			od.matched = map[uint16]*matchedMinute{}
		}
		m := uint16(int(heard-c.start) % pact.MinutesPerDay)
		avail := x.batches[batch].available
		diag := c.diag[owner].at
		mm, ok := od.matched[m]
		if !ok {
			od.matched[m] = &matchedMinute{rssi: rssi, available: avail, diagnosed: diag}
			return
		}
		mm.rssi = pact.MergeRSSI(mm.rssi, rssi)
		if avail < mm.available {
			mm.available, mm.diagnosed = avail, diag
		}
	}
	m, err := pact.NewMatcher(slices.Values(o.pact), pact.MatchOptions{Workers: 1})
	if err != nil {
		return pact.MatchStats{}, fmt.Errorf("sim: observer %d index: %w", o.id, err)
	}
	rep, err := m.Match(pact.TupleSeq(x.tuples), func(ct pact.Contact) error {
		owner, ok := x.owner[ct.Seed]
		if !ok {
			return fmt.Errorf("sim: observer %d matched seed %s that nobody uploaded", o.id, ct.Seed)
		}
		record(ct.Heard, ct.RSSI, x.batchOfTuple(ct.TupleIndex), owner)
		return nil
	})
	if err != nil {
		return rep.Stats, fmt.Errorf("sim: observer %d matching: %w", o.id, err)
	}
	if len(x.keys) > 0 && len(o.findMy) > 0 {
		slices.SortStableFunc(o.findMy, func(a, b pact.Sighting) int { return int(a.Minute) - int(b.Minute) })
		found, err := findmymatch.Match(ctx, memFindMy(o.findMy), x.keys, findmymatch.Options{})
		if err != nil {
			return rep.Stats, fmt.Errorf("sim: observer %d Find My matching: %w", o.id, err)
		}
		o.findMyMatches += len(found)
		for _, f := range found {
			record(f.Heard, f.RSSI, int(x.keyBatch[f.Key]), x.keyOwner[f.Key])
		}
	}
	return rep.Stats, nil
}

// observe simulates the observers in chunks: each chunk hears, then
// matches, so that only a chunk's contact logs are in memory at once and
// the CPU of matching can be measured apart from the radio simulation.
func (c *city) observe(ctx context.Context, x *exchangeResult, rep *CityReport, prog *progress) error {
	observers := c.chooseObservers()
	acc := newAccuracy(&c.cfg)
	chunk := 16 * c.cfg.Workers
	var matchCPU, matchWall time.Duration
	var sightings, logBytes int64
	var stats pact.MatchStats
	for lo := 0; lo < len(observers); lo += chunk {
		ids := observers[lo:min(lo+chunk, len(observers))]
		obs := make([]*observer, len(ids))
		for k, id := range ids {
			obs[k] = &observer{id: id, days: make([]observerDay, len(c.days))}
		}
		if err := c.parallel(ctx, len(obs), func(k int) error { c.hear(obs[k]); return nil }); err != nil {
			return err
		}
		cpu0, wall0 := processCPU(), time.Now()
		chunkStats := make([]pact.MatchStats, len(obs))
		if err := c.parallel(ctx, len(obs), func(k int) error {
			var err error
			chunkStats[k], err = c.match(ctx, obs[k], x)
			return err
		}); err != nil {
			return err
		}
		matchCPU += processCPU() - cpu0
		matchWall += time.Since(wall0)
		for k, o := range obs {
			stats.Add(chunkStats[k])
			sightings += int64(len(o.pact) + len(o.findMy))
			logBytes += int64(len(o.pact)+len(o.findMy)) * contactLogRowBytes
			acc.add(c, o)
		}
		prog.report("observers", lo+len(ids), len(observers))
	}
	rep.Observers = len(observers)
	rep.Natives = 0
	for i := range c.pop.people {
		if !c.pop.people[i].carrier {
			rep.Natives++
		}
	}
	rep.Carriers = c.cfg.Devices - rep.Natives
	rep.Regions = c.pop.regions
	od := float64(len(observers) * len(c.days))
	if od > 0 {
		rep.Matching = MatchingFigures{
			CPUPerDeviceDay:       (matchCPU.Seconds() / od),
			WallPerDeviceDay:      matchWall.Seconds() / od,
			SightingsPerDeviceDay: float64(sightings) / od,
			TuplesMatched:         stats.Tuples,
			TuplesSkipped:         stats.TuplesSkipped,
			KeysDerived:           stats.KeysDerived,
			ChirpsComputed:        stats.ChirpsComputed,
			ContactLogBytesPerDay: float64(logBytes) / od,
		}
	}
	acc.finish(rep, len(observers), rep.Natives)
	return nil
}

// contactLogRowBytes is what one sighting costs in the device database's
// contact log, for the storage estimate: chirp 28, minute 4, RSSI 1,
// source 1, rowid and record overhead about 16.
const contactLogRowBytes = 50

// parallel runs fn(0..n-1) on the configured workers.
func (c *city) parallel(ctx context.Context, n int, fn func(int) error) error {
	var mu sync.Mutex
	next := 0
	var first error
	var wg sync.WaitGroup
	for range min(c.cfg.Workers, n) {
		wg.Go(func() {
			for {
				mu.Lock()
				k := next
				next++
				stop := first != nil
				mu.Unlock()
				if k >= n || stop || ctx.Err() != nil {
					return
				}
				if err := fn(k); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}
