package repeater

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Register registers the repeater's counters with reg as Prometheus
// metrics (docs/repeater.md): what it heard, held, broadcast, and what it
// dropped and why.
func (r *Repeater) Register(reg prometheus.Registerer) error {
	counter := func(name, help string, v func(Stats) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(v(r.Stats())) })
	}
	dropped := func(reason string, v func(Stats) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "pact_repeater_dropped_total", Help: "Chirps, keys or rebroadcasts dropped, by reason.",
			ConstLabels: prometheus.Labels{"reason": reason},
		}, func() float64 { return float64(v(r.Stats())) })
	}
	cs := []prometheus.Collector{
		counter("pact_repeater_heard_total", "Chirps and Find My keys heard, duplicates included.", func(s Stats) uint64 { return s.Heard }),
		counter("pact_repeater_broadcasts_total", "Repeated frames put on the air.", func(s Stats) uint64 { return s.Broadcasts }),
		counter("pact_repeater_advertiser_failures_total", "Advertiser errors.", func(s Stats) uint64 { return s.Failures }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "pact_repeater_held", Help: "Chirps and keys held for rebroadcast."},
			func() float64 { return float64(r.Stats().Held) }),
		dropped("memory", func(s Stats) uint64 { return s.DroppedMemory }),
		dropped("airtime", func(s Stats) uint64 { return s.DroppedAirtime }),
		dropped("repeated", func(s Stats) uint64 { return s.DroppedRepeated }),
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("registering repeater metrics: %w", err)
		}
	}
	return nil
}
