package sim

import (
	"math"
	"math/rand/v2"

	"github.com/pact-findmy/pact-findmy/pact"
)

type point struct{ x, y float64 }

func (p point) distance(q point) float64 { return math.Hypot(p.x-q.x, p.y-q.y) }

// place is somewhere people gather: an office, a shop, a train.
type place struct {
	centre point
	radius float64
}

func (p place) spot(rng *rand.Rand) point {
	r := p.radius * math.Sqrt(rng.Float64())
	a := 2 * math.Pi * rng.Float64()
	return point{p.centre.x + r*math.Cos(a), p.centre.y + r*math.Sin(a)}
}

// town lays homes apart from each other and a few shared places between
// them, so that contacts cluster at work, on the commute and in shops.
type town struct {
	homes      []point
	workplaces []place
	shops      []place
	train      place
}

func newTown(rng *rand.Rand, devices int) *town {
	t := &town{train: place{centre: point{0, 0}, radius: 6}}
	for range devices {
		t.homes = append(t.homes, point{rng.Float64()*4000 - 2000, rng.Float64()*4000 - 2000})
	}
	for i := range max(2, devices/8) {
		t.workplaces = append(t.workplaces, place{centre: point{500 + 300*float64(i), 800}, radius: 12})
	}
	for i := range max(2, devices/10) {
		t.shops = append(t.shops, place{centre: point{-600 - 200*float64(i), -400}, radius: 8})
	}
	return t
}

// position returns where device d is at minute m: home at night, on the
// train, at work, perhaps at a shop, back home. Positions inside a place
// are redrawn every minute, as people move about.
func (t *town) position(rng *rand.Rand, d *Device, m pact.Minute) point {
	minuteOfDay := int(m) % pact.MinutesPerDay
	weekend := (m.Day()+3)%7 >= 5 // Monday is 0; 1970-01-01 was a Thursday
	switch {
	case weekend && minuteOfDay >= 11*60 && minuteOfDay < 12*60:
		return t.shops[d.shop].spot(rng)
	case weekend:
		return d.home
	case minuteOfDay < d.leaves || minuteOfDay >= d.leaves+11*60:
		return d.home
	case minuteOfDay < d.leaves+30:
		return t.train.spot(rng)
	case minuteOfDay < d.leaves+9*60:
		return t.workplaces[d.work].spot(rng)
	case minuteOfDay < d.leaves+9*60+30:
		return t.train.spot(rng)
	case minuteOfDay < d.leaves+10*60:
		return t.shops[d.shop].spot(rng)
	}
	return d.home
}
