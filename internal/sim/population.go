package sim

import (
	"math"
	"math/rand/v2"
	"slices"
)

// The city model. Everybody lives in a household; children go to a class
// at school, most adults to a room at a workplace; some of them ride a
// transit line there and back, sharing a car with whoever left in the
// same ten minutes; people stop at one of two favourite shops on some
// weekdays and around noon at weekends. Contacts happen only between
// people in the same venue at the same minute. Positions inside a venue
// are redrawn every few minutes from a hash of (person, venue, day,
// epoch), so that both sides of a pair, and every observer that asks,
// see the same distance.

// venueKind says what a venue is, which sets its size, how often people
// move inside it and the walls between them.
type venueKind uint8

const (
	venueHome  venueKind = iota
	venueRoom            // an office room
	venueClass           // a school class
	venueShop
	venueCar // a transit car on one trip
)

var venueKindNames = [...]string{"home", "work", "school", "shop", "transit"}

func (k venueKind) String() string { return venueKindNames[k] }

// moveEvery is how many minutes people stay at one spot in a venue.
var moveEvery = [...]int{venueHome: 30, venueRoom: 20, venueClass: 45, venueShop: 3, venueCar: 10}

// personKind is what a person does on a weekday.
type personKind uint8

const (
	kindChild personKind = iota
	kindWorker
	kindHome // retired, unemployed, working at home
)

// person is one inhabitant. Everything about a day is drawn from hashes
// of the run seed, the person and the day, so a day can be rebuilt for
// any person at any time without storing it.
type person struct {
	household int32
	room      int32 // venue of the work room or class, -1 for none
	shops     [2]int32
	region    uint16
	line      uint16 // transit line, when transit
	leave     uint16 // usual minute of day leaving home on weekdays
	workLen   uint16 // minutes at work or school
	commute   uint8  // minutes on the way, each direction
	kind      personKind
	transit   bool
	carrier   bool // seen through Find My frames instead of native chirps
	txOffset  int8 // this phone's deviation from the nominal TX power, dB
}

// population is the static part of the city.
type population struct {
	seed    uint64
	people  []person
	venues  []venue // static venues: homes, rooms, classes, shops
	lines   int
	regions int
	// firstShop is the venue index of the first shop.
	firstShop int32
}

// venue is a place where contacts happen.
type venue struct {
	kind   venueKind
	radius float64 // metres; positions are uniform in a disc
}

// householdSizes is the share of households of 1..5 people (a European
// city: many singles and couples).
var householdSizes = [...]float64{0.30, 0.33, 0.16, 0.15, 0.06}

func newPopulation(n int, seed uint64, carrierShare float64, regionSize int) *population {
	rng := rand.New(rand.NewPCG(seed, 0x706f70))
	p := &population{seed: seed, people: make([]person, n)}
	p.regions = max(1, (n+regionSize-1)/regionSize)
	// Households of consecutive people; region by household block, so a
	// region is a district.
	for i := 0; i < n; {
		size := 1 + pick(rng, householdSizes[:])
		size = min(size, n-i)
		h := int32(len(p.venues))
		p.venues = append(p.venues, venue{kind: venueHome, radius: 4 + float64(size)})
		for j := range size {
			pp := &p.people[i+j]
			pp.household = h
			pp.region = uint16(min(i/regionSize, p.regions-1))
			switch {
			case j >= 2 && size >= 3: // children after the first two
				pp.kind = kindChild
			case rng.Float64() < 0.72:
				pp.kind = kindWorker
			default:
				pp.kind = kindHome
			}
		}
		i += size
	}
	// Workplaces: sizes from 2 to 400, heavy-tailed; each split into rooms
	// of at most 12. Classes of 25.
	var workers, children []int
	for i := range p.people {
		switch p.people[i].kind {
		case kindWorker:
			workers = append(workers, i)
		case kindChild:
			children = append(children, i)
		}
	}
	rng.Shuffle(len(workers), func(a, b int) { workers[a], workers[b] = workers[b], workers[a] })
	for w := 0; w < len(workers); {
		size := min(len(workers)-w, 2+int(math.Exp(rng.Float64()*math.Log(200))))
		for r := 0; r < size; r += 12 {
			room := int32(len(p.venues))
			members := min(12, size-r)
			p.venues = append(p.venues, venue{kind: venueRoom, radius: math.Sqrt(float64(members) * 10 / math.Pi)})
			for k := range members {
				p.people[workers[w+r+k]].room = room
			}
		}
		w += size
	}
	rng.Shuffle(len(children), func(a, b int) { children[a], children[b] = children[b], children[a] })
	for c := 0; c < len(children); c += 25 {
		room := int32(len(p.venues))
		members := min(25, len(children)-c)
		p.venues = append(p.venues, venue{kind: venueClass, radius: math.Sqrt(float64(members) * 2.5 / math.Pi)})
		for k := range members {
			p.people[children[c+k]].room = room
		}
	}
	// One shop for every 300 people, two favourites each, in the region.
	p.firstShop = int32(len(p.venues))
	shopsPerRegion := max(1, regionSize/300)
	for range p.regions * shopsPerRegion {
		p.venues = append(p.venues, venue{kind: venueShop, radius: 12})
	}
	p.lines = max(1, n/20000)
	for i := range p.people {
		pp := &p.people[i]
		if pp.kind == kindHome {
			pp.room = -1
		}
		shopsHere := min(shopsPerRegion, int(int32(len(p.venues))-p.firstShop)-int(pp.region)*shopsPerRegion)
		base := p.firstShop + int32(int(pp.region)*shopsPerRegion)
		pp.shops = [2]int32{base + int32(rng.IntN(shopsHere)), base + int32(rng.IntN(shopsHere))}
		pp.carrier = rng.Float64() < carrierShare
		pp.txOffset = int8(rng.IntN(7) - 3)
		switch pp.kind {
		case kindWorker:
			pp.leave = uint16(6*60 + 30 + rng.IntN(150))
			pp.workLen = uint16(7*60 + rng.IntN(150))
			pp.transit = rng.Float64() < 0.5
		case kindChild:
			pp.leave = uint16(7*60 + 15 + rng.IntN(45))
			pp.workLen = uint16(6*60 + rng.IntN(90))
			pp.transit = rng.Float64() < 0.3
		}
		pp.commute = uint8(10 + rng.IntN(36))
		pp.line = uint16(rng.IntN(p.lines))
	}
	return p
}

// pick draws an index with the given probabilities.
func pick(rng *rand.Rand, probs []float64) int {
	u := rng.Float64()
	for i, q := range probs {
		if u < q {
			return i
		}
		u -= q
	}
	return len(probs) - 1
}

// mix is splitmix64's finaliser: a cheap, well-spread hash.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// hash4 hashes the run seed with four values.
func hash4(seed, a, b, c, d uint64) uint64 {
	return mix(seed ^ mix(a^0x9e3779b97f4a7c15) ^ mix(b+0x632be59bd9b4e019) ^ mix(c*0x85ebca6b+1) ^ mix(d+0xc2b2ae3d27d4eb4f))
}

// unit turns a hash into a float in [0, 1).
func unit(h uint64) float64 { return float64(h>>11) / (1 << 53) }

// stay is one person's time in one venue on one day: minutes of the day
// [from, to).
type stay struct {
	person   int32
	venue    int32
	from, to uint16
}

// dayPlan appends person i's stays on day (days since the epoch) to dst.
// isolatedFrom is the minute of the day from which the person stays home
// (diagnosed); 1440 or more for never.
func (p *population) dayPlan(dst []stay, i int, day uint32, isolatedFrom int) []stay {
	pp := &p.people[i]
	weekend := (day+3)%7 >= 5 // day 0 (1970-01-01) was a Thursday
	h := func(k uint64) uint64 { return hash4(p.seed, uint64(i), uint64(day), k, 0x706c616e) }
	at := func(v int32, from, to int) {
		from, to = max(from, 0), min(to, isolatedFrom, 24*60)
		if from < to {
			dst = append(dst, stay{person: int32(i), venue: v, from: uint16(from), to: uint16(to)})
		}
	}
	home := pp.household
	var out []struct {
		v        int32
		from, to int
	}
	add := func(v int32, from, to int) {
		out = append(out, struct {
			v        int32
			from, to int
		}{v, from, to})
	}
	switch {
	case weekend:
		if unit(h(1)) < 0.6 {
			from := 10*60 + int(h(2)%(7*60))
			add(pp.shops[h(3)%2], from, from+15+int(h(4)%40))
		}
	case pp.room >= 0 && unit(h(5)) > 0.04: // 4% off sick or on leave
		leave := int(pp.leave) + int(h(6)%21) - 10
		arrive := leave
		if pp.transit {
			arrive = leave + int(pp.commute)
			add(carVenue, leave, arrive)
		} else {
			arrive = leave + int(pp.commute)/2 // walking or driving alone
		}
		back := arrive + int(pp.workLen)
		add(pp.room, arrive, back)
		home := back
		if pp.transit {
			home = back + int(pp.commute)
			add(carVenue, back, home)
		}
		if pp.kind == kindWorker && unit(h(7)) < 0.3 {
			add(pp.shops[h(8)%2], home, home+10+int(h(9)%30))
		}
	default:
		if unit(h(10)) < 0.4 {
			from := 9*60 + int(h(11)%(8*60))
			add(pp.shops[h(12)%2], from, from+10+int(h(13)%40))
		}
	}
	// Home fills the gaps.
	t := 0
	for _, s := range out {
		at(home, t, s.from)
		at(s.v, s.from, s.to)
		t = s.to
	}
	at(home, t, 24*60)
	if isolatedFrom < 24*60 {
		// After the diagnosis, at home: every stay above was cut at
		// isolatedFrom.
		dst = append(dst, stay{person: int32(i), venue: home, from: uint16(max(isolatedFrom, 0)), to: 24 * 60})
	}
	return dst
}

// carVenue marks a transit stay before dayIndex assigns the car.
const carVenue int32 = -2

// dayIndex is every stay of one day, grouped by venue.
type dayIndex struct {
	day     uint32
	byVenue []stay
	// start[v] .. start[v+1] are venue v's stays in byVenue.
	start []int32
	// cars are the transit cars of the day, venues from len(static).
	cars int32
	// trips are the transit stays as person<<16 | from, sorted, and
	// tripCar the car of each.
	trips   []uint64
	tripCar []int32
}

// carCapacity is how many riders share a car in the model.
const carCapacity = 40

// buildDay plans everybody's day and groups the stays by venue. Riders of
// one line who leave in the same ten minutes are split into cars of
// carCapacity in the order of a hash, so each car holds a random mix.
func (p *population) buildDay(day uint32, isolation func(i int) int) *dayIndex {
	var all []stay
	for i := range p.people {
		all = p.dayPlan(all, i, day, isolation(i))
	}
	// Assign cars: key (line, direction slot) -> riders.
	type rider struct {
		key  uint64
		h    uint64
		stay int
	}
	var riders []rider
	for k, s := range all {
		if s.venue == carVenue {
			pp := &p.people[s.person]
			riders = append(riders, rider{
				key:  uint64(pp.line)<<32 | uint64(s.from/10),
				h:    hash4(p.seed, uint64(s.person), uint64(day), uint64(s.from), 0x636172),
				stay: k,
			})
		}
	}
	slices.SortFunc(riders, func(a, b rider) int {
		if a.key != b.key {
			return cmpU64(a.key, b.key)
		}
		return cmpU64(a.h, b.h)
	})
	static := int32(len(p.venues))
	cars := int32(0)
	for i := 0; i < len(riders); {
		j := i
		for j < len(riders) && riders[j].key == riders[i].key {
			j++
		}
		for k := i; k < j; k += carCapacity {
			for r := k; r < min(j, k+carCapacity); r++ {
				all[riders[r].stay].venue = static + cars
			}
			cars++
		}
		i = j
	}
	d := &dayIndex{day: day, cars: cars}
	for _, r := range riders {
		s := all[r.stay]
		d.trips = append(d.trips, uint64(s.person)<<16|uint64(s.from))
	}
	order := make([]int, len(riders))
	for k := range order {
		order[k] = k
	}
	slices.SortFunc(order, func(a, b int) int { return cmpU64(d.trips[a], d.trips[b]) })
	sortedTrips := make([]uint64, len(order))
	d.tripCar = make([]int32, len(order))
	for k, o := range order {
		sortedTrips[k] = d.trips[o]
		d.tripCar[k] = all[riders[o].stay].venue
	}
	d.trips = sortedTrips
	nv := int(static + cars)
	d.start = make([]int32, nv+1)
	for _, s := range all {
		d.start[s.venue+1]++
	}
	for v := range nv {
		d.start[v+1] += d.start[v]
	}
	d.byVenue = make([]stay, len(all))
	fill := slices.Clone(d.start[:nv])
	for _, s := range all {
		d.byVenue[fill[s.venue]] = s
		fill[s.venue]++
	}
	return d
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// venueOf returns the kind and radius of venue v on day d.
func (p *population) venueOf(v int32) (venueKind, float64) {
	if int(v) < len(p.venues) {
		return p.venues[v].kind, p.venues[v].radius
	}
	return venueCar, 5
}

// stays returns the stays of venue v.
func (d *dayIndex) stays(v int32) []stay { return d.byVenue[d.start[v]:d.start[v+1]] }

// staysOf returns person i's stays of the day, in time order, as recorded
// in the index (with their transit cars).
func (d *dayIndex) staysOf(p *population, i int, isolatedFrom int, scratch []stay) []stay {
	plan := p.dayPlan(scratch[:0], i, d.day, isolatedFrom)
	for k := range plan {
		if plan[k].venue != carVenue {
			continue
		}
		// The car the index gave this trip.
		if at, ok := slices.BinarySearch(d.trips, uint64(i)<<16|uint64(plan[k].from)); ok {
			plan[k].venue = d.tripCar[at]
		}
	}
	return plan
}
