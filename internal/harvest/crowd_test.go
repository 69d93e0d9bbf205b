package harvest

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/pact-findmy/pact-findmy/findmy"
	"github.com/pact-findmy/pact-findmy/hci"
)

// crowdKeys is the crowd workload: 4,096 distinct 28-byte keys, of
// which about half are random bytes off the curve, as corrupt or fake
// frames are.
const crowdKeys = 4096

// crowdReports returns full-form Offline Finding reports that cycle
// through crowdKeys keys, n in all, 1 ms apart.
func crowdReports(tb testing.TB, n int) []hci.AdvReport {
	tb.Helper()
	rng := rand.New(rand.NewPCG(9, 9))
	keys := make([]findmy.Key, crowdKeys)
	for i := range keys {
		for j := range keys[i] {
			keys[i][j] = byte(rng.Uint32())
		}
	}
	start := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	reports := make([]hci.AdvReport, n)
	for i := range reports {
		addr, ad := findmy.EncodeFull(keys[i%crowdKeys], findmy.MakeStatus(findmy.BatteryFull, findmy.DeviceAirTag, false), 0)
		reports[i] = hci.AdvReport{Type: hci.PDUAdvNonconnInd, AddrType: 1, Addr: addr, Data: ad[:], RSSI: -70,
			Time: start.Add(time.Duration(i) * time.Millisecond)}
	}
	return reports
}

// TestKeyCacheHoldsACrowd checks that with a crowd's worth of keys in
// range, cycling, each key's curve check is computed about once: the
// cache must not evict keys that are still being heard.
func TestKeyCacheHoldsACrowd(t *testing.T) {
	reports := crowdReports(t, 40*crowdKeys)
	h := New()
	var res Result
	for i := range reports {
		h.Parse(&reports[i], &res)
	}
	hits, misses := h.ValidatorStats()
	if misses > crowdKeys+crowdKeys/100 {
		t.Errorf("%d curve checks computed (%d cache hits) for %d distinct keys heard 40 times each", misses, hits, crowdKeys)
	}
}

// BenchmarkCrowd measures Parse on the crowd workload with the key cache
// sized as New sizes it and, for comparison in the same run, as it was
// sized before (8,192 slots).
func BenchmarkCrowd(b *testing.B) {
	reports := crowdReports(b, 64*crowdKeys)
	for _, c := range []struct {
		name  string
		slots int
	}{{"slots=8192", 8192}, {"slots=default", keyCacheSlots}} {
		b.Run(c.name, func(b *testing.B) {
			h := &Harvester{validator: findmy.NewValidator(c.slots)}
			var res Result
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				h.Parse(&reports[i%len(reports)], &res)
			}
			_, misses := h.ValidatorStats()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reports/s")
			b.ReportMetric(float64(misses)/float64(b.N), "checks/report")
		})
	}
}

// TestCrowdSynthesizer checks the generated crowd workload: full-form
// frames exactly gap apart, cycling through the keys, about half of them
// on the curve.
func TestCrowdSynthesizer(t *testing.T) {
	start := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	s := NewCrowdSynthesizer(1, start, time.Millisecond, 256)
	h := New()
	var r hci.AdvReport
	var res Result
	kinds := map[Kind]int{}
	seen := map[findmy.Key]bool{}
	for i := range 512 {
		s.Next(&r)
		if !r.Time.Equal(start.Add(time.Duration(i) * time.Millisecond)) {
			t.Fatalf("report %d at %v", i, r.Time)
		}
		kinds[h.Parse(&r, &res)]++
		seen[findmy.Key(res.Sighting.Chirp)] = true
	}
	if len(seen) != 256 || kinds[KindFindMy]+kinds[KindFindMyInvalid] != 512 || kinds[KindFindMy] < 200 || kinds[KindFindMyInvalid] < 200 {
		t.Errorf("%d distinct keys, kinds %v", len(seen), kinds)
	}
	if _, misses := h.ValidatorStats(); misses != 256 {
		t.Errorf("%d curve checks for 256 keys", misses)
	}
}
