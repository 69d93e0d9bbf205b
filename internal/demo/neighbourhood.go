// Package demo builds what `pact-bridge demo` shows: a simulated
// neighbourhood around one node, written as a btsnoop capture of the
// advertising reports the node's adapter would have delivered, so that the
// node takes it in through the same capture-replay path as a real capture.
//
// The neighbours are real PACT devices (each with its own seed log) and
// Find My accessories (each with its own key schedule); one of them is
// diagnosed later and uploads through the real share path.
package demo

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"time"

	"github.com/pact-findmy/pact-findmy/findmy"
	"github.com/pact-findmy/pact-findmy/hci"
	"github.com/pact-findmy/pact-findmy/pact"
)

// Presence says where a neighbour is, minute by minute: the distance to
// the node in metres, or ok false when out of range.
type Presence func(minute int) (metres float64, ok bool)

// Between is a neighbour at metres from the node during minutes
// [from, to) of the neighbourhood's span.
func Between(from, to int, metres float64) Presence {
	return func(m int) (float64, bool) { return metres, m >= from && m < to }
}

// Accessory is a Find My accessory: its pairing material and the time its
// key index 0 became current (findmy §5).
type Accessory struct {
	Secret  findmy.Secret
	Private findmy.PrivateKey
	Epoch   time.Time
	// NearOwner accessories send the short form, which reveals only a key
	// prefix; separated ones send the full key (findmy §3).
	NearOwner bool

	// The key of index is kept: deriving one costs index KDF steps.
	index uint64
	key   *findmy.Key
}

// NewAccessory draws fresh pairing material with key 0 current at epoch.
func NewAccessory(epoch time.Time, nearOwner bool) (*Accessory, error) {
	a := &Accessory{Epoch: epoch, NearOwner: nearOwner}
	if _, err := io.ReadFull(rand.Reader, a.Secret[:]); err != nil {
		return nil, fmt.Errorf("demo: drawing an accessory secret: %w", err)
	}
	// A scalar outside 1..n-1 is refused; that happens with
	// probability about 2^-112, so a second draw always suffices.
	for {
		var b [28]byte
		if _, err := io.ReadFull(rand.Reader, b[:]); err != nil {
			return nil, fmt.Errorf("demo: drawing an accessory key: %w", err)
		}
		if d, err := findmy.NewPrivateKey(b[:]); err == nil {
			a.Private = d
			return a, nil
		}
	}
}

// KeyAt returns the key the accessory advertises at t.
func (a *Accessory) KeyAt(t time.Time) (findmy.Key, error) {
	index := uint64(t.Sub(a.Epoch) / findmy.RotationPeriod)
	if a.key != nil && a.index == index {
		return *a.key, nil
	}
	var key findmy.Key
	err := findmy.ScheduleFromPrivateKey(a.Secret, a.Private, index, 1, func(k findmy.RollingKey) error {
		key = k.Public.Key()
		return nil
	})
	if err != nil {
		return key, err
	}
	a.index, a.key = index, &key
	return key, nil
}

// Neighbour is one person or object near the node.
type Neighbour struct {
	Name string
	// Seeds is the neighbour's phone's seed log; nil for no PACT phone.
	Seeds *pact.SeedLog
	// Clock drives Seeds; the generator moves it minute by minute.
	Clock *pact.ManualClock
	// Accessory is a Find My accessory the neighbour carries or left;
	// nil for none.
	Accessory *Accessory
	Where     Presence

	// HeardChirps is the ground truth Write records: the minutes in which
	// at least one of the neighbour's PACT chirps reached the node.
	HeardChirps map[pact.Minute]bool
}

// Neighbourhood is the span of time the capture covers and who was there.
type Neighbourhood struct {
	Start      time.Time
	Minutes    int
	Neighbours []*Neighbour
	// ReportsPerMinute is how many advertising reports of each device the
	// node's adapter delivers per minute (a phone advertising every few
	// seconds, heard through a scan window).
	ReportsPerMinute int
	// Radio turns distance into RSSI.
	Radio Radio
	// Rand drives radio noise and timing, so that a seed repeats a capture
	// apart from the seeds and keys, which always come from crypto/rand.
	Rand *mrand.Rand
}

// Radio is a log-distance path loss model with Gaussian shadowing.
type Radio struct {
	RSSIAt1m, Exponent, Sigma, Sensitivity float64
}

// IndoorRadio models phones indoors, as the simulator does.
var IndoorRadio = Radio{RSSIAt1m: -59, Exponent: 2.2, Sigma: 4, Sensitivity: -95}

func (r Radio) rssi(rng *mrand.Rand, metres float64) (int8, bool) {
	v := r.RSSIAt1m - 10*r.Exponent*math.Log10(math.Max(metres, 0.1)) + rng.NormFloat64()*r.Sigma
	if v < r.Sensitivity {
		return 0, false
	}
	return int8(math.Max(math.Min(math.Round(v), 20), -127)), true
}

// EventWriter takes HCI event packets with their receive time: a btsnoop
// or pcap writer.
type EventWriter interface {
	WriteEvent(t time.Time, event []byte) error
}

// Write generates the neighbourhood's reports in time order and hands each
// to w as an LE Advertising Report event. It returns how many reports it
// wrote. Seed logs draw and store their seeds as they chirp, so a
// neighbour's seed log afterwards holds exactly the seeds heard.
func (n *Neighbourhood) Write(ctx context.Context, w EventWriter) (int, error) {
	per := max(n.ReportsPerMinute, 1)
	written := 0
	var ev []byte
	for m := 0; m < n.Minutes; m++ {
		minute := n.Start.Add(time.Duration(m) * time.Minute)
		for slot := 0; slot < per; slot++ {
			at := minute.Add(time.Duration(slot) * time.Minute / time.Duration(per))
			for _, nb := range n.Neighbours {
				// A phone chirps whether or not the node hears it, so its
				// seed log covers every hour of the span.
				frames, err := nb.frames(ctx, at)
				if err != nil {
					return written, fmt.Errorf("demo: %s at %v: %w", nb.Name, at, err)
				}
				metres, here := nb.Where(m)
				if !here {
					continue
				}
				for _, f := range frames {
					rssi, heard := n.Radio.rssi(n.Rand, metres)
					if !heard {
						continue
					}
					jitter := time.Duration(n.Rand.Int64N(int64(time.Minute / time.Duration(per))))
					r := hci.AdvReport{
						Time: at.Add(jitter), Type: hci.PDUAdvNonconnInd, AddrType: 1,
						Addr: f.addr, RSSI: rssi, Data: f.data, EventType: uint16(hci.PDUAdvNonconnInd),
						PrimaryPHY: 1, SID: 0xFF, TxPower: 127,
					}
					if ev, err = hci.AppendLEAdvertisingReport(ev[:0], r); err != nil {
						return written, err
					}
					if err := w.WriteEvent(r.Time, ev); err != nil {
						return written, err
					}
					written++
					if f.chirp {
						if nb.HeardChirps == nil {
							nb.HeardChirps = map[pact.Minute]bool{}
						}
						nb.HeardChirps[pact.MinuteOf(r.Time)] = true
					}
				}
			}
		}
	}
	return written, nil
}

type frame struct {
	addr  [6]byte
	data  []byte
	chirp bool
}

// frames returns what the neighbour broadcasts at t: the PACT chirp of
// the minute and the accessory's Find My frame.
func (nb *Neighbour) frames(ctx context.Context, t time.Time) ([]frame, error) {
	var out []frame
	if nb.Seeds != nil {
		nb.Clock.Set(t)
		chirp, _, ok, err := nb.Seeds.ChirpNow(ctx)
		if err != nil {
			return nil, err
		}
		if ok {
			addr, ad := pact.EncodeAdvert(chirp)
			out = append(out, frame{addr: addr, data: ad, chirp: true})
		}
	}
	if a := nb.Accessory; a != nil {
		key, err := a.KeyAt(t)
		if err != nil {
			return nil, err
		}
		status := findmy.MakeStatus(findmy.BatteryFull, findmy.DeviceAirTag, a.NearOwner)
		if a.NearOwner {
			addr, ad := findmy.EncodeShort(key.Prefix(), status)
			out = append(out, frame{addr: addr, data: ad[:]})
		} else {
			addr, ad := findmy.EncodeFull(key, status, 0)
			out = append(out, frame{addr: addr, data: ad[:]})
		}
	}
	return out, nil
}
