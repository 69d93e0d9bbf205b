package harvest

import (
	"encoding/binary"
	"math/rand/v2"
	"time"

	"github.com/pact-findmy/pact-findmy/findmy"
	"github.com/pact-findmy/pact-findmy/hci"
	"github.com/pact-findmy/pact-findmy/pact"
)

// Mix is the share of each kind of report a Synthesizer produces; the
// shares are relative weights.
type Mix struct {
	FindMy, FindMyShort, FindMyInvalid, PACT, AppleOther, Other, ScanResponse, Malformed int
}

// DefaultMix resembles a busy public place: many Apple devices (most of
// them iPhones sending Continuity frames, which carry no key), Find My
// accessories, some PACT phones, other vendors' beacons, and a little
// noise.
var DefaultMix = Mix{
	FindMy: 30, FindMyShort: 10, FindMyInvalid: 1, PACT: 15,
	AppleOther: 24, Other: 15, ScanResponse: 4, Malformed: 1,
}

// Synthesizer generates a deterministic stream of advertising reports
// from a population of simulated devices: Find My keys rotate every 15
// minutes, PACT chirps every minute, as on the air. It feeds the capture
// generator of findmy-harvester and the benchmarks.
type Synthesizer struct {
	rng      *rand.Rand
	now      time.Time
	gap      time.Duration
	mix      Mix
	total    int
	findMy   []synthFindMy
	pactKeys []*pact.ChirpKey
	data     [31]byte
}

type synthFindMy struct {
	key    findmy.Key
	expiry time.Time
	status findmy.Status
}

// NewSynthesizer returns a generator whose reports start at start and are
// on average gap apart, from findMyDevices accessories and pactDevices
// phones. The same arguments give the same stream.
func NewSynthesizer(seed uint64, start time.Time, gap time.Duration, mix Mix, findMyDevices, pactDevices int) *Synthesizer {
	s := &Synthesizer{
		rng: rand.New(rand.NewPCG(seed, 0x5041435466696e64)),
		now: start, gap: gap, mix: mix,
	}
	s.total = mix.FindMy + mix.FindMyShort + mix.FindMyInvalid + mix.PACT + mix.AppleOther + mix.Other + mix.ScanResponse + mix.Malformed
	s.findMy = make([]synthFindMy, max(findMyDevices, 1))
	for i := range s.findMy {
		s.findMy[i].status = findmy.MakeStatus(findmy.Battery(s.rng.IntN(4)), findmy.DeviceType(s.rng.IntN(4)), s.rng.IntN(3) == 0)
		// Spread the rotations so that keys do not all change at once.
		s.findMy[i].expiry = start.Add(time.Duration(s.rng.Int64N(int64(findmy.RotationPeriod))))
		s.findMy[i].key = s.validKey()
	}
	s.pactKeys = make([]*pact.ChirpKey, max(pactDevices, 1))
	for i := range s.pactKeys {
		var seed pact.Seed
		s.fill(seed[:])
		s.pactKeys[i] = pact.NewChirpKey(&seed)
	}
	return s
}

func (s *Synthesizer) fill(b []byte) {
	for i := 0; i < len(b); i += 8 {
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], s.rng.Uint64())
		copy(b[i:], w[:])
	}
}

// validKey draws random x-coordinates until one is on P-224; about half
// are, and every valid key is equally likely, as with real devices.
func (s *Synthesizer) validKey() findmy.Key {
	for {
		var k findmy.Key
		s.fill(k[:])
		if findmy.OnCurve(&k) {
			return k
		}
	}
}

func (s *Synthesizer) invalidKey() findmy.Key {
	for {
		var k findmy.Key
		s.fill(k[:])
		if !findmy.OnCurve(&k) {
			return k
		}
	}
}

// Next fills r with the next report. r.Data points into the Synthesizer
// and is overwritten by the following call.
func (s *Synthesizer) Next(r *hci.AdvReport) {
	s.now = s.now.Add(time.Duration(s.rng.Int64N(2*int64(s.gap) + 1)))
	*r = hci.AdvReport{
		Time: s.now, Type: hci.PDUAdvNonconnInd, AddrType: 1,
		RSSI: int8(-30 - s.rng.IntN(70)), PrimaryPHY: 1, SID: 0xFF, TxPower: 127,
	}
	pick := s.rng.IntN(s.total)
	m := s.mix
	switch {
	case pick < m.FindMy:
		d := &s.findMy[s.rng.IntN(len(s.findMy))]
		if !s.now.Before(d.expiry) {
			// Skip the periods nobody heard in one step.
			periods := s.now.Sub(d.expiry)/findmy.RotationPeriod + 1
			d.key = s.validKey()
			d.expiry = d.expiry.Add(periods * findmy.RotationPeriod)
		}
		addr, ad := findmy.EncodeFull(d.key, d.status, byte(s.rng.Uint32()))
		r.Addr, r.Data = addr, s.put(ad[:])
	case pick < m.FindMy+m.FindMyShort:
		d := &s.findMy[s.rng.IntN(len(s.findMy))]
		addr, ad := findmy.EncodeShort(d.key.Prefix(), d.status|findmy.MakeStatus(0, 0, true))
		r.Addr, r.Data = addr, s.put(ad[:])
	case pick < m.FindMy+m.FindMyShort+m.FindMyInvalid:
		addr, ad := findmy.EncodeFull(s.invalidKey(), 0x10, 0)
		r.Addr, r.Data = addr, s.put(ad[:])
	case pick < m.FindMy+m.FindMyShort+m.FindMyInvalid+m.PACT:
		k := s.pactKeys[s.rng.IntN(len(s.pactKeys))]
		addr, ad := pact.EncodeAdvert(k.Chirp(pact.MinuteOf(s.now)))
		r.Addr, r.Data = addr, s.put(ad)
	case pick < m.FindMy+m.FindMyShort+m.FindMyInvalid+m.PACT+m.AppleOther:
		// Continuity "nearby info" of an iPhone, from a rotating address.
		r.Type = hci.PDUAdvInd
		s.randomAddr(r)
		b := s.data[:0]
		b = append(b, 0x02, 0x01, 0x1A, 0x0A, 0xFF, 0x4C, 0x00, 0x10, 0x05, byte(s.rng.Uint32()), byte(s.rng.Uint32()), byte(s.rng.Uint32()), byte(s.rng.Uint32()), byte(s.rng.Uint32()))
		r.Data = b
	case pick < m.FindMy+m.FindMyShort+m.FindMyInvalid+m.PACT+m.AppleOther+m.Other:
		// A Microsoft CDP beacon: another vendor's manufacturer data.
		r.Type = hci.PDUAdvInd
		s.randomAddr(r)
		b := append(s.data[:0], 0x1E, 0xFF, 0x06, 0x00, 0x01, 0x09, 0x20, 0x02)
		for len(b) < 31 {
			b = append(b, byte(s.rng.Uint32()))
		}
		r.Data = b
	case pick < m.FindMy+m.FindMyShort+m.FindMyInvalid+m.PACT+m.AppleOther+m.Other+m.ScanResponse:
		r.Type = hci.PDUScanRsp
		s.randomAddr(r)
		r.Data = append(s.data[:0], 0x09, 0x09, 'P', 'h', 'o', 'n', 'e', ' ', 'X', 'Y')
	default:
		// An AD structure cut short, as a corrupted frame would be.
		s.randomAddr(r)
		r.Data = append(s.data[:0], 0x1E, 0xFF, 0x4C, 0x00, 0x12, 0x19, 0x10)
	}
}

func (s *Synthesizer) put(b []byte) []byte { return append(s.data[:0], b...) }

func (s *Synthesizer) randomAddr(r *hci.AdvReport) {
	s.fill(r.Addr[:])
	r.Addr[0] = r.Addr[0]&0x3F | 0x40 // resolvable private address
}

// CrowdSynthesizer generates the crowd workload of docs/performance.md:
// full-form Offline Finding reports exactly gap apart, cycling through a
// fixed set of random 28-byte keys, about half of which are off the curve
// as random bytes are. It stresses the key-check cache, where Synthesizer
// stresses the mix of frame kinds.
type CrowdSynthesizer struct {
	now  time.Time
	gap  time.Duration
	keys []findmy.Key
	next int
	rng  *rand.Rand
}

// NewCrowdSynthesizer returns a generator of reports from keys distinct
// keys; the same arguments give the same stream.
func NewCrowdSynthesizer(seed uint64, start time.Time, gap time.Duration, keys int) *CrowdSynthesizer {
	s := &CrowdSynthesizer{now: start.Add(-gap), gap: gap, keys: make([]findmy.Key, max(keys, 1)),
		rng: rand.New(rand.NewPCG(seed, 0x63726f7764))}
	for i := range s.keys {
		for j := range s.keys[i] {
			s.keys[i][j] = byte(s.rng.Uint32())
		}
	}
	return s
}

// Next fills r with the next report; r.Data is valid until the next call.
func (s *CrowdSynthesizer) Next(r *hci.AdvReport) {
	s.now = s.now.Add(s.gap)
	addr, ad := findmy.EncodeFull(s.keys[s.next], findmy.MakeStatus(findmy.BatteryFull, findmy.DeviceAirTag, false), 0)
	s.next = (s.next + 1) % len(s.keys)
	*r = hci.AdvReport{Time: s.now, Type: hci.PDUAdvNonconnInd, AddrType: 1, Addr: addr, Data: ad[:],
		RSSI: int8(-40 - s.rng.IntN(50)), PrimaryPHY: 1, SID: 0xFF, TxPower: 127}
}
