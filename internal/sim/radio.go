package sim

import (
	"math"
	"math/rand/v2"
)

// CityRadio is the propagation model of the city simulation: log-distance
// path loss from a calibrated power at one metre, a per-phone TX offset,
// where each phone is carried (hand, pocket, bag), whether a body stands
// between the two, a wall loss indoors beyond a few metres, slow shadowing
// per minute and fast fading per broadcast. A minute records the strongest
// of the broadcasts received, as a contact log does (spec §5.2).
type CityRadio struct {
	// TxPowerAt1m is the RSSI, in dBm, of a phone in free space at 1 m.
	TxPowerAt1m float64 `json:"tx_power_at_1m"`
	// FindMyOffset is how much weaker, in dB, a Find My frame of an
	// AirTag or iPhone is received than a native chirp (negative).
	FindMyOffset float64 `json:"findmy_offset"`
	// PathLossExponent is 2 in free space, 2-3 indoors.
	PathLossExponent float64 `json:"path_loss_exponent"`
	// ShadowingSigma is the standard deviation, in dB, of the slow fading
	// drawn once per pair and minute; FadingSigma that of the fast fading
	// of each broadcast.
	ShadowingSigma float64 `json:"shadowing_sigma"`
	FadingSigma    float64 `json:"fading_sigma"`
	// Sensitivity is the weakest RSSI a receiver decodes, in dBm.
	Sensitivity float64 `json:"sensitivity"`
	// LossProbability is the chance that one broadcast is missed anyway
	// (scan duty cycle, collisions).
	LossProbability float64 `json:"loss_probability"`
	// ChirpsPerMinute and FindMyPerMinute are the broadcasts a minute of a
	// native device (one every 4 s) and of a Find My device (one every 2 s).
	ChirpsPerMinute int `json:"chirps_per_minute"`
	FindMyPerMinute int `json:"findmy_per_minute"`
	// WallLoss is added indoors (homes, offices) between people more than
	// 4 m apart, who are then usually in different rooms.
	WallLoss float64 `json:"wall_loss"`
	// PocketLoss and BagLoss bound the uniform loss of a phone carried in a
	// pocket or a bag; BodyLoss bounds that of a body between the two
	// phones, which happens half the time.
	PocketLoss [2]float64 `json:"pocket_loss"`
	BagLoss    [2]float64 `json:"bag_loss"`
	BodyLoss   [2]float64 `json:"body_loss"`
}

// DefaultCityRadio models phones between people: the figures are those
// usually measured for BLE between handsets (about -59 dBm at 1 m, 5-10 dB
// through a pocket or a body).
var DefaultCityRadio = CityRadio{
	TxPowerAt1m: -59, FindMyOffset: -4, PathLossExponent: 2.0,
	ShadowingSigma: 3, FadingSigma: 3, Sensitivity: -95, LossProbability: 0.3,
	ChirpsPerMinute: 15, FindMyPerMinute: 30, WallLoss: 8,
	PocketLoss: [2]float64{3, 8}, BagLoss: [2]float64{6, 14}, BodyLoss: [2]float64{3, 12},
}

// carryLoss returns the loss, in dB, of where a phone is carried, drawn
// from a hash: in the hand 30%, in a pocket 50%, in a bag 20%.
func (r *CityRadio) carryLoss(h uint64) float64 {
	u := unit(mix(h ^ 0xca7))
	switch m := h % 10; {
	case m < 3:
		return 0
	case m < 8:
		return r.PocketLoss[0] + u*(r.PocketLoss[1]-r.PocketLoss[0])
	default:
		return r.BagLoss[0] + u*(r.BagLoss[1]-r.BagLoss[0])
	}
}

// bodyLoss returns the loss of a body between two phones, from a hash.
func (r *CityRadio) bodyLoss(h uint64) float64 {
	if h&1 == 0 {
		return 0
	}
	return r.BodyLoss[0] + unit(mix(h))*(r.BodyLoss[1]-r.BodyLoss[0])
}

// receiver draws the minutes of one radio model; it caches the binomial
// distribution of received broadcasts.
type receiver struct {
	r *CityRadio
	// received[n][k] is P(at most k of n broadcasts received).
	received map[int][]float64
}

func newReceiver(r *CityRadio) *receiver {
	rc := &receiver{r: r, received: map[int][]float64{}}
	for _, n := range []int{r.ChirpsPerMinute, r.FindMyPerMinute} {
		p := 1 - r.LossProbability
		cdf := make([]float64, n+1)
		sum := 0.0
		for k := 0; k <= n; k++ {
			sum += binomial(n, k) * math.Pow(p, float64(k)) * math.Pow(1-p, float64(n-k))
			cdf[k] = sum
		}
		rc.received[n] = cdf
	}
	return rc
}

func binomial(n, k int) float64 {
	r := 1.0
	for i := 1; i <= k; i++ {
		r = r * float64(n-k+i) / float64(i)
	}
	return r
}

// minute returns the RSSI a receiver records in one minute at distance d
// with extra loss, out of n broadcasts, and whether it heard any.
func (rc *receiver) minute(rng *rand.Rand, d, loss float64, n int) (int8, bool) {
	r := rc.r
	mean := r.TxPowerAt1m - 10*r.PathLossExponent*math.Log10(math.Max(d, 0.1)) - loss
	if mean+3*(r.ShadowingSigma+r.FadingSigma) < r.Sensitivity {
		return 0, false
	}
	cdf := rc.received[n]
	u := rng.Float64()
	k := 0
	for k < n && u > cdf[k] {
		k++
	}
	if k == 0 {
		return 0, false
	}
	// The strongest of k fast-fading draws: its CDF is Phi(x)^k.
	v := math.Pow(rng.Float64(), 1/float64(k))
	best := mean + rng.NormFloat64()*r.ShadowingSigma + r.FadingSigma*math.Sqrt2*math.Erfinv(2*v-1)
	if best < r.Sensitivity || math.IsInf(best, 0) || math.IsNaN(best) {
		return 0, false
	}
	return int8(math.Max(math.Min(math.Round(best), 20), -127)), true
}
